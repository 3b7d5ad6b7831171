"""The pieces of one sequence in the batch backend: its chat prompt, its slot, its decoding state.

    TemplateRecorder  messages → prompt tokens + stop strings, through llama-cpp-python's own chat handlers
    Slot              one sequence id of the context and the tokens its KV cache holds
    DecodingSequence  a request being decoded in a slot: prompt fed so far, sampled tokens, text, timings
    sampler_chain     create_chat_completion's sampling chain, seeded
    token_logprob     a sampled token's log-probability under the raw logits (the engine's confidence)
    common_prefix / held_back   KV reuse and stop-string buffering
"""

from __future__ import annotations

import codecs
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from livemind.engine.backends.base import SequenceJob

# the engine module sets the OpenMP wait policy before the library loads, so take llama_cpp from it
from livemind.engine.backends.llama_cpp import llama_cpp
from livemind.errors import EngineError
from livemind.types import ChatMessage, SamplingSettings

MIN_P = 0.05  # create_chat_completion's default; kept so a seed means the same thing here and there
PENALTY_LAST_N = 64  # llama-cpp-python's last_n_tokens_size


class PromptCaptured(Exception):
    """Control flow inside TemplateRecorder; never escapes it."""

    def __init__(self, tokens: list[int], stop: list[str]) -> None:
        super().__init__("prompt captured")
        self.tokens = tokens
        self.stop = stop


class TemplateRecorder(llama_cpp.Llama):
    """A vocab-only Llama whose chat handler hands back the prompt instead of completing it.

    llama-cpp-python picks the chat template (GGUF metadata, a named chat_format, or Jinja)
    and turns messages into tokens inside its chat handlers; running those handlers keeps our
    prompts token-for-token identical to `create_chat_completion`.
    """

    requested_format: str | None = None  # the chat_format it was made for (None: from the GGUF)

    def create_completion(self, prompt: Any, *args: Any, stop: Any = None, **kwargs: Any) -> Any:
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        raise PromptCaptured(list(prompt), [s for s in stops if s])

    def chat_prompt(self, messages: Sequence[ChatMessage]) -> tuple[list[int], list[str]]:
        """The prompt tokens and stop strings of a chat."""
        try:
            self.create_chat_completion(messages=[{"role": m.role, "content": m.content} for m in messages])  # type: ignore[misc]
        except PromptCaptured as captured:
            return captured.tokens, captured.stop
        raise EngineError("llama-cpp-python's chat handler did not build a prompt", hint="see `livemind doctor`")


@dataclass
class Slot:
    """One sequence id of the context and the tokens its KV cache holds (positions 0..n-1)."""

    seq_id: int
    tokens: list[int] = field(default_factory=list)
    prefilled: int = 0  # leading tokens whose KV was computed as prompt (the rest came from decoding)
    conversation: str | None = None
    last_used: float = 0.0
    is_busy: bool = False

    def clear(self) -> None:
        """Forget the conversation it held (the caller removed its KV cells)."""
        self.tokens.clear()
        self.prefilled = 0
        self.conversation = None


@dataclass
class DecodingSequence:
    """A request being decoded in one slot."""

    job: SequenceJob
    slot: Slot
    prompt: list[int]
    stops: list[str]
    max_tokens: int
    sampler: Any
    reused: int
    fed: int  # prompt tokens whose KV is in the cache
    started: float  # admitted: the chat template starts
    templated: float  # the prompt's tokens are ready
    pending: int | None = None  # sampled token not yet fed to the model
    batch_index: int = -1  # where this sequence's logits are in the current batch, -1 if none
    feeding: int = 0  # prompt tokens in the current batch
    generated: list[int] = field(default_factory=list)
    logprob_total: float = 0.0  # summed log-probabilities of `generated` under the raw logits (token_logprob)
    text: str = ""
    emitted: int = 0
    first_token_at: float | None = None
    draft: list[int] = field(default_factory=list)  # guessed tokens in the current batch, after `pending`
    lookup: Any = None  # the sequence's PromptLookup, made at its first draft
    drafted: int = 0
    accepted: int = 0
    hit_rate: float = 0.5  # recent share of guesses kept (moving average): guessing pauses while it is low
    leader: DecodingSequence | Slot | None = None  # where this prompt's shared start will be copied from
    share: int = 0  # tokens of the prompt the leader holds, or will hold once it has read them
    copied: int = 0  # prompt tokens copied from another sequence's cache instead of read
    decoder: codecs.IncrementalDecoder = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))

    @property
    def is_prefilling(self) -> bool:
        return self.fed < len(self.prompt)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def held_back(text: str, stops: Sequence[str]) -> int:
    """Characters at the end of text that could still become a stop string."""
    held = 0
    for stop in stops:
        for length in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:length]):
                held = max(held, length)
                break
    return held


def token_logprob(logits: npt.NDArray[np.float32], token: int, scratch: npt.NDArray[np.float32]) -> float:
    """log softmax(logits)[token]: the token's log-probability under the model's raw distribution.

    `logits` is llama.cpp's row viewed in place (no copy); `scratch` (as long) takes exp(logits - max),
    so a step allocates nothing. About 0.2 ms for a 151,936-token vocabulary (see llama_tokens.py).
    """
    top = float(logits.max())
    np.subtract(logits, top, out=scratch)
    np.exp(scratch, out=scratch)
    return float(logits[token]) - top - math.log(float(scratch.sum()))


def sampler_chain(s: SamplingSettings, n_vocab: int) -> Any:
    """A sampler chain like create_chat_completion's: penalties, top-k, typical, top-p, min-p, temperature, dist."""
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    add = llama_cpp.llama_sampler_chain_add
    add(chain, llama_cpp.llama_sampler_init_penalties(n_vocab, PENALTY_LAST_N, s.repeat_penalty, 0.0, 0.0))
    if s.temperature == 0.0:
        add(chain, llama_cpp.llama_sampler_init_greedy())
        return chain
    seed = s.seed if s.seed is not None else random.randrange(2**31)
    add(chain, llama_cpp.llama_sampler_init_top_k(s.top_k))
    add(chain, llama_cpp.llama_sampler_init_typical(1.0, 1))
    add(chain, llama_cpp.llama_sampler_init_top_p(s.top_p, 1))
    add(chain, llama_cpp.llama_sampler_init_min_p(MIN_P, 1))
    add(chain, llama_cpp.llama_sampler_init_temp(s.temperature))
    add(chain, llama_cpp.llama_sampler_init_dist(seed))
    return chain
