"""What a decode step gives each sequence of the batch backend: its next token, its text, its Completion.

    TokenReader.sample(seq)          sample the sequence's token from its own logits row with its own seeded
                                     chain, score it, decode it into text, stream the text no stop string
                                     can still claim; the finish reason when it ends, else None
    TokenReader.verify(seq, reason)  a drafted step: keep the guesses the sampler picks too, drop the rest
    completion_of(seq, reason, end)  the Completion a finished sequence reports (tokens, timings, confidence)

**The engine's confidence.** Every sampled token (not the end-of-generation one) is scored by its
log-probability under the model's raw distribution: log softmax of the logits row it was sampled
from (`llama_get_logits_ith`, viewed in place as n_vocab float32s), before the repeat penalty,
temperature and truncation the sampler applies. A drafted step scores each kept guess against
its own row. `Completion.mean_logprob` is their mean over the reply, the figure a council's vote
is weighted by (livemind.council.strategies); it matches llama-cpp-python's own `logprobs` for the
same tokens. Cost, measured 2026-12 on a 2-core AMD EPYC shared with a running eval (greedy,
48-64 tokens, the time inside the scoring against the wall time of the same generate calls):
Qwen2.5-Coder-1.5B (151,936-token vocabulary) 0.14 ms a token in a batch of three and 0.29 ms
alone, 0.26-0.34 % of the decode; SmolLM2-135M (49,152) 0.08-0.18 ms, 0.3-0.45 %. A bare
log-softmax of a 151,936-float row takes about 0.2 ms here (numpy, no allocation).
"""

from __future__ import annotations

import ctypes
import time
from typing import Any

import numpy as np

from livemind.engine.backends.kv_sequences import SequenceCache

# the engine module sets the OpenMP wait policy before the library loads, so take llama_cpp from it
from livemind.engine.backends.llama_cpp import llama_cpp
from livemind.engine.backends.llama_sequence import DecodingSequence, held_back, token_logprob
from livemind.types import Completion, FinishReason

PIECE_BUFFER = 64


class TokenReader:
    """Reads the sampled tokens of one context's decode steps into its sequences (one thread at a time)."""

    def __init__(self, ctx: Any, vocab: Any, n_vocab: int, kv: SequenceCache) -> None:
        self._ctx = ctx
        self._vocab = vocab
        self._n_vocab = n_vocab
        self._kv = kv
        self._piece = ctypes.create_string_buffer(PIECE_BUFFER)
        self._logprob_scratch = np.empty(n_vocab, dtype=np.float32)

    def sample(self, seq: DecodingSequence) -> FinishReason | None:
        """Sample, score and stream the token of batch row `seq.batch_index`; why the sequence ends, or None."""
        token = llama_cpp.llama_sampler_sample(seq.sampler, self._ctx, seq.batch_index)
        if llama_cpp.llama_vocab_is_eog(self._vocab, token):
            return "stop"
        seq.generated.append(token)
        seq.logprob_total += self._logprob(seq.batch_index, token)
        if seq.first_token_at is None:
            seq.first_token_at = time.perf_counter()
        length = llama_cpp.llama_token_to_piece(self._vocab, token, self._piece, PIECE_BUFFER, 0, False)
        seq.text += seq.decoder.decode(self._piece.raw[:max(0, length)])
        for stop in seq.stops:
            cut = seq.text.find(stop, max(0, seq.emitted - len(stop)))
            if cut >= 0:
                seq.text = seq.text[:cut]
                emit(seq, len(seq.text))
                return "stop"
        emit(seq, len(seq.text) - held_back(seq.text, seq.stops))
        if len(seq.generated) >= seq.max_tokens:
            return "length"
        seq.pending = token
        return None

    def verify(self, seq: DecodingSequence, reason: FinishReason | None) -> FinishReason | None:
        """Keep the guessed tokens the sampler picks too; drop the first miss and the rows after it.

        Row i's logits follow guess i-1, so they are valid only while every earlier guess was the
        token sampled. Each kept guess's cell is already in the cache; the rest are removed.
        """
        kept = 0
        for token in seq.draft:
            if reason is not None or seq.pending != token:
                break
            seq.slot.tokens.append(token)  # the guess was right: its KV cell holds the sampled token
            seq.pending = None
            kept += 1
            seq.batch_index += 1
            reason = self.sample(seq)
        seq.drafted += len(seq.draft)
        seq.accepted += kept
        seq.hit_rate = 0.7 * seq.hit_rate + 0.3 * kept / len(seq.draft)
        if kept < len(seq.draft):
            self._kv.cut(seq.slot)
        return reason

    def _logprob(self, row: int, token: int) -> float:
        """The sampled token's log-probability under the raw logits of batch row `row` (the engine's confidence).

        A drafted step samples each kept guess from its own row (`verify` moves batch_index), so every
        token is scored against the logits it was sampled from. The sampler reads the row without
        changing it (checked against a copy), so reading it after sampling is the same as before.
        """
        row_logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self._ctx, row), shape=(self._n_vocab,))
        return token_logprob(row_logits, token, self._logprob_scratch)


def emit(seq: DecodingSequence, end: int) -> None:
    """Stream the sequence's text up to `end` that its callback has not had yet."""
    if end > seq.emitted:
        piece = seq.text[seq.emitted:end]
        seq.emitted = end
        if seq.job.on_token is not None:
            seq.job.on_token(piece)


def completion_of(seq: DecodingSequence, reason: FinishReason, end: float) -> Completion:
    """What a sequence that finished at `end` (perf_counter) reports: its text, token counts, timings and confidence."""
    first = seq.first_token_at or end
    decode_s = end - first
    produced = len(seq.generated)
    return Completion(
        text=seq.text.strip(),
        prompt_tokens=seq.fed - seq.reused - seq.copied,
        cached_prompt_tokens=seq.reused,
        copied_prompt_tokens=seq.copied,
        completion_tokens=produced,
        ttft_s=first - seq.started,
        total_s=end - seq.started,
        stages={"queue": round(seq.started - seq.job.created, 6), "template": round(seq.templated - seq.started, 6),
                "prefill": round(first - seq.templated, 6)},
        decode_tok_s=(produced - 1) / decode_s if produced > 1 and decode_s > 0 else 0.0,
        finish_reason=reason,
        draft_tokens=seq.drafted,
        accepted_draft_tokens=seq.accepted,
        mean_logprob=seq.logprob_total / produced if produced else None,
        logprob_tokens=produced,
    )
