"""The multi-sequence llama.cpp backend: experts sharing one model decode as one batch.

One llama.cpp context holds `n_seq_max` sequences, each in its own KV stream of n_ctx cells
(`kv_unified` off). A sequence's cache never interleaves with another's, so its logits do not
depend on what else shares the batch: a conversation continued inside a batch gives the same
text as the same conversation re-read alone (with one shared stream, cells of different
sequences interleave and flash attention sums them in a different order, which flipped a
sampled token now and then). llama.cpp batches across streams only for consecutive sequence
ids, so each step lists its sequences in id order and new ones take the lowest free id.

    admit(job) ── chat template → prompt tokens ── pick a sequence and keep what its cache
                  shares with the prompt, or copy the start another sequence holds; a sample
                  of a prompt another sequence is reading waits for it and takes its KV and
                  its logits row (kv_sequences.py: SequenceCache)
    step() ──── one llama_batch: the last sampled token of every decoding sequence, plus
                prompt chunks of newly admitted ones (n_batch tokens at most) ── llama_decode
                ── each sequence samples from its own logits with its own seeded chain ──
                scores the token it sampled ── its piece goes to its own callback ──
                stop / length / cancel checks (llama_tokens.py: TokenReader, which also scores
                every token: the engine's confidence)

Prompts and sampling match `create_chat_completion` (llama_sequence.py), so a seed gives the
same text as the high-level API; tests/engine/backends/test_llama_batch.py measures batched vs alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from livemind.engine.backends.base import (
    CancelSignal,
    IndexedTokenCallback,
    LoadTarget,
    SequenceJob,
    SequenceResult,
    TokenCallback,
    available_cores,
)
from livemind.engine.backends.kv_sequences import SequenceCache

# the engine module sets the OpenMP wait policy before the library loads, so take llama_cpp from it
from livemind.engine.backends.llama_cpp import KV_TYPE_IDS, llama_cpp
from livemind.engine.backends.llama_sequence import DecodingSequence, TemplateRecorder, sampler_chain
from livemind.engine.backends.llama_tokens import TokenReader, completion_of, emit
from livemind.engine.backends.lookup import PromptLookup
from livemind.errors import EngineError, ModelCorruptError, PromptTooLongError
from livemind.types import ChatMessage, Completion, EngineSettings, FinishReason, GenerationRequest

MIN_HIT_RATE, PROBE_EVERY = 0.3, 8  # below this share of guesses kept, guess only every 8th token
EXACT_ROWS = 3
"""Rows one decode step may hold for drafted text to stay token for token the plain path's.

From 4 rows llama.cpp multiplies the repacked Q4_K weights with its gemm kernel instead of
gemv, which rounds differently: on Qwen2.5-Coder-1.5B a first answer kept its greedy text with
1 or 2 guessed tokens per step and changed at the 492nd character with 3 or 4. Exact drafting
therefore runs only where a sequence decodes alone."""


class LlamaBatchBackend:
    """One model, one context, several sequences. Driven by one thread at a time (the scheduler)."""

    kv_unified = False  # one KV stream per sequence; see the module docstring

    def __init__(self, target: LoadTarget, *, template: TemplateRecorder | None = None) -> None:
        assert target.path is not None
        self.target = target
        engine = target.engine
        self._n_ctx = engine.n_ctx
        self._n_batch = max(engine.n_batch, engine.n_seq_max)
        self._threads = engine.n_threads or available_cores()
        self.engine_note = ""
        self._engine = engine
        try:
            self._template = template or TemplateRecorder(model_path=str(target.path), vocab_only=True,
                                                          chat_format=target.chat_format, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelCorruptError(f"llama.cpp could not read {target.path}: {exc}",
                                    hint="re-download it (`livemind models pull --force`)") from exc
        model_params = llama_cpp.llama_model_default_params()
        self._model = llama_cpp.llama_model_load_from_file(str(target.path).encode("utf-8"), model_params)
        if not self._model:
            self._template.close()
            raise ModelCorruptError(f"llama.cpp could not load {target.path}",
                                    hint="the file is truncated or corrupt; re-download it (`livemind models pull --force`)")
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self._n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self._n_swa = int(llama_cpp.llama_model_n_swa(self._model))
        self._ctx = self._create_context(engine)
        self._batch = llama_cpp.llama_batch_init(self._n_batch, 0, 1)
        self.kv = SequenceCache(llama_cpp.llama_get_memory(self._ctx), engine.n_seq_max, self._n_swa)
        self._active: list[DecodingSequence] = []
        self._reader = TokenReader(self._ctx, self._vocab, self._n_vocab, self.kv)
        self._is_closed = False
        self.decode_calls = 0
        # drafting removes rejected cells from a sequence's tail: attention caches only, no sliding window
        recurrent = llama_cpp.llama_model_is_recurrent(self._model) or llama_cpp.llama_model_is_hybrid(self._model)
        self.lookup_draft = 0 if recurrent or self._n_swa > 0 else engine.lookup_draft
        self.lookup_exact = engine.lookup_exact

    def _create_context(self, engine: EngineSettings) -> Any:
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = engine.n_ctx * engine.n_seq_max
        params.n_batch = self._n_batch
        params.n_ubatch = min(engine.n_ubatch, self._n_batch)
        params.n_seq_max = engine.n_seq_max
        params.n_threads = self._threads
        params.n_threads_batch = self._threads
        params.kv_unified = self.kv_unified
        params.type_k = params.type_v = KV_TYPE_IDS[engine.kv_type]
        params.flash_attn_type = (llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if engine.flash_attn
                                  else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        ctx = llama_cpp.llama_init_from_model(self._model, params)
        if not ctx and (engine.kv_type != "f16" or engine.flash_attn):
            # "where the model supports it": fall back to the plain cache rather than fail
            params.type_k = params.type_v = KV_TYPE_IDS["f16"]
            params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
            ctx = llama_cpp.llama_init_from_model(self._model, params)
            self.engine_note = f"{engine.kv_type} KV with flash attention is not supported by this model: using f16"
            self._engine = engine.model_copy(update={"kv_type": "f16", "flash_attn": False})  # the pool re-sizes it
        if not ctx:
            llama_cpp.llama_model_free(self._model)
            self._template.close()
            raise EngineError(f"llama.cpp could not create a context for {self.target.model} "
                              f"({params.n_ctx} cells, {engine.n_seq_max} sequences)",
                              hint="lower n_ctx or n_seq_max in the expert's engine settings")
        return ctx

    @property
    def n_ctx(self) -> int:
        """The context window of one conversation, in tokens."""
        return self._n_ctx

    @property
    def engine(self) -> EngineSettings:
        """The settings this model really runs with (f16 KV without flash attention after a fallback)."""
        return self._engine

    @property
    def max_sequences(self) -> int:
        """How many sequences decode together."""
        return len(self.kv.slots)

    @property
    def active_sequences(self) -> int:
        """Sequences admitted and not finished."""
        return len(self._active)

    @property
    def threads(self) -> int:
        """CPU threads used per decode."""
        return self._threads

    def model_shape(self) -> dict[str, int]:
        """Tensor bytes and attention geometry: what one decode step must read (the bench's bandwidth limit)."""
        model = self._model
        return {"tensor_bytes": int(llama_cpp.llama_model_size(model)), "n_layer": int(llama_cpp.llama_model_n_layer(model)),
                "n_head": int(llama_cpp.llama_model_n_head(model)), "n_head_kv": int(llama_cpp.llama_model_n_head_kv(model)),
                "n_embd": int(llama_cpp.llama_model_n_embd(model))}

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Prompt tokens of the messages, chat template included."""
        return len(self._template.chat_prompt(messages)[0])

    def generate(self, request: GenerationRequest, *, on_token: TokenCallback | None = None,
                 cancel: CancelSignal | None = None) -> Completion:
        """Generate one completion (a batch of one)."""
        return self._run([SequenceJob(request, on_token, cancel)])[0]

    def generate_many(self, requests: Sequence[GenerationRequest], *, on_token: IndexedTokenCallback | None = None,
                      cancel: CancelSignal | None = None) -> list[Completion]:
        """Generate several completions as one batch (the engine-level call the bench and tools use)."""
        jobs = []
        for index, request in enumerate(requests):
            callback = None if on_token is None else (lambda piece, i=index: on_token(i, piece))
            jobs.append(SequenceJob(request, callback, cancel))
        return self._run(jobs)

    def _run(self, jobs: Sequence[SequenceJob]) -> list[Completion]:
        waiting = list(jobs)
        results: dict[int, Completion] = {}
        while waiting or self._active:
            while waiting and self.admit(waiting[0]):
                waiting.pop(0)
            for done in self.step():
                if done.error is not None:
                    raise done.error
                assert done.completion is not None
                results[id(done.job)] = done.completion
        return [results[id(job)] for job in jobs]

    def set_threads(self, n_threads: int) -> None:
        """Use this many threads from the next decode on."""
        if n_threads != self._threads:
            self._threads = n_threads
            llama_cpp.llama_set_n_threads(self._ctx, n_threads, n_threads)

    def close(self) -> None:
        """Free the samplers, the batch, the context and the model."""
        if self._is_closed:
            return
        self._is_closed = True
        for seq in self._active:
            llama_cpp.llama_sampler_free(seq.sampler)
        self._active.clear()
        llama_cpp.llama_batch_free(self._batch)
        llama_cpp.llama_free(self._ctx)
        llama_cpp.llama_model_free(self._model)
        self._template.close()

    # -- sequences -------------------------------------------------------------------------

    def admit(self, job: SequenceJob) -> bool:
        """Start decoding a request at the next step; False when every sequence is busy.

        Raises PromptTooLongError when the prompt cannot fit one context window.
        """
        if all(s.is_busy for s in self.kv.slots):
            return False
        templating = time.perf_counter()
        prompt, stops = self._template.chat_prompt(job.request.messages)
        if len(prompt) + 1 > self._n_ctx:
            raise PromptTooLongError(tokens=len(prompt), limit=self._n_ctx - 1)
        slot = self.kv.pick(job.request.conversation, prompt)
        reused = self.kv.keep(slot, prompt)
        sampling = job.request.sampling
        slot.is_busy = True
        slot.conversation = job.request.conversation
        slot.last_used = time.monotonic()
        seq = DecodingSequence(
            job=job, slot=slot, prompt=prompt, stops=stops, reused=reused, fed=reused,
            max_tokens=min(sampling.max_tokens, self._n_ctx - len(prompt)),
            sampler=sampler_chain(job.request.sampling, self._n_vocab), started=templating,
            templated=time.perf_counter())
        if self.kv.share_prefixes and self.kv.reuse_kv:
            seq.share, seq.leader = self.kv.leader(seq, self._active)
        self._active.append(seq)
        return True

    # -- decoding --------------------------------------------------------------------------

    def step(self) -> list[SequenceResult]:
        """Decode one token for every decoding sequence and a prompt chunk for the others."""
        finished = [self._finish(seq, "cancelled") for seq in list(self._active)
                    if seq.job.cancel is not None and seq.job.cancel.is_set()]
        if not self._active:
            return finished
        self.kv.copy_ready_starts(self._active)
        self._batch.n_tokens = self._fill_batch()
        status = llama_cpp.llama_decode(self._ctx, self._batch)
        self.decode_calls += 1
        if status != 0:
            error = EngineError(f"llama_decode failed with status {status} for {len(self._active)} sequences",
                                hint="lower n_seq_max or n_ctx; see `livemind doctor`")
            for seq in list(self._active):
                self._release(seq)
                finished.append(SequenceResult(job=seq.job, error=error))
            return finished
        for seq in self._active:
            # record what the cache now holds
            if seq.pending is not None:
                seq.slot.tokens.append(seq.pending)
                seq.pending = None
            elif seq.feeding:
                seq.slot.tokens.extend(seq.prompt[seq.fed:seq.fed + seq.feeding])
                seq.slot.prefilled = len(seq.slot.tokens)
                seq.fed += seq.feeding
        self.kv.attach_twins(self._active)  # samples of one prompt: the prompt just read is theirs too
        for seq in list(self._active):
            if seq.batch_index >= 0:
                reason = self._reader.sample(seq)
                if seq.draft:
                    reason = self._reader.verify(seq, reason)
                if reason is not None:
                    finished.append(self._finish(seq, reason))
        return finished

    def _fill_batch(self) -> int:
        """Put every sequence's rows in the batch: the sampled token (and its guesses), then prompt chunks."""
        batch = self._batch
        n = 0

        def put(token: int, pos: int, seq_id: int, wants_logits: bool) -> None:
            nonlocal n
            batch.token[n] = token
            batch.pos[n] = pos
            batch.n_seq_id[n] = 1
            batch.seq_id[n][0] = seq_id
            batch.logits[n] = wants_logits
            n += 1

        self._active.sort(key=lambda q: q.slot.seq_id)  # per-sequence KV streams batch in seq-id order
        drafting = self.lookup_draft > 0 and not any(q.is_prefilling for q in self._active)
        spare = self._n_batch if not self.lookup_exact else EXACT_ROWS - sum(q.pending is not None for q in self._active)
        for seq in self._active:
            seq.batch_index = -1
            seq.draft = []
            if seq.pending is not None:
                seq.batch_index = n
                pos = len(seq.slot.tokens)
                put(seq.pending, pos, seq.slot.seq_id, True)
                if drafting and spare > 0:
                    seq.draft = self._draft(seq, room=min(spare, self._n_batch - n))
                    spare -= len(seq.draft)
                    for offset, token in enumerate(seq.draft, start=1):  # a row each, logits on: verified below
                        put(token, pos + offset, seq.slot.seq_id, True)
        for seq in self._active:
            seq.feeding = 0
            if not seq.is_prefilling or n >= self._n_batch or seq.leader is not None:
                continue
            chunk = seq.prompt[seq.fed: seq.fed + self._n_batch - n]
            seq.feeding = len(chunk)
            for offset, token in enumerate(chunk):
                is_last = seq.fed + offset == len(seq.prompt) - 1
                if is_last:
                    seq.batch_index = n
                put(token, seq.fed + offset, seq.slot.seq_id, is_last)
        return n

    def _draft(self, seq: DecodingSequence, room: int) -> list[int]:
        """Guessed tokens to feed after `pending`: no more than `room` rows, the window and max_tokens allow."""
        pos = len(seq.slot.tokens)
        limit = min(self.lookup_draft, room, self._n_ctx - 1 - pos, seq.max_tokens - len(seq.generated) - 1)
        if limit <= 0 or (seq.hit_rate < MIN_HIT_RATE and len(seq.generated) % PROBE_EVERY):
            return []  # a first answer repeats little: its rows would cost more than they save
        if seq.lookup is None:
            seq.lookup = PromptLookup()
        assert seq.pending is not None
        return seq.lookup.draft([*seq.slot.tokens, seq.pending], limit)

    def _finish(self, seq: DecodingSequence, reason: FinishReason) -> SequenceResult:
        end = time.perf_counter()
        if reason != "cancelled":
            seq.text += seq.decoder.decode(b"", final=True)
            emit(seq, len(seq.text))
        self._release(seq)
        return SequenceResult(job=seq.job, completion=completion_of(seq, reason, end))

    def _release(self, seq: DecodingSequence) -> None:
        self._active.remove(seq)
        llama_cpp.llama_sampler_free(seq.sampler)
        seq.slot.is_busy = False
        seq.slot.last_used = time.monotonic()

    def kv_state_bytes(self) -> int:
        """Bytes of KV state the sequences hold now (llama_state_seq_get_size summed)."""
        return sum(int(llama_cpp.llama_state_seq_get_size(self._ctx, s.seq_id)) for s in self.kv.slots if s.tokens)

    def forget(self) -> None:
        """Drop every kept conversation from the KV cache (idle sequences only)."""
        self.kv.forget()
