"""Scripted fakes at the Backend and Embedder seams, for unit tests that must not wait on a model."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence

import numpy as np

from livemind.engine.backends.base import CancelSignal, LoadTarget, MemoryEstimate, TokenCallback
from livemind.errors import ModelCorruptError
from livemind.types import ChatMessage, Completion, GenerationRequest

Script = Callable[[LoadTarget, GenerationRequest], str]
Confidence = Callable[[LoadTarget, GenerationRequest], float | None]
"""The mean token log-prob a scripted reply reports (the engine's confidence); None reports none, as remote servers may."""


def echo_script(target: LoadTarget, request: GenerationRequest) -> str:
    """Answer with the model name and the last user message."""
    return f"{target.model} says: {request.messages[-1].content[:40]}"


class ScriptedBackend:
    """A backend that 'generates' a scripted text word by word."""

    def __init__(self, target: LoadTarget, script: Script, gate: threading.Event | None = None,
                 confidence: Confidence | None = None) -> None:
        self.target = target
        self._script = script
        self._gate = gate
        self._confidence = confidence
        self.closed = False
        self.calls = 0

    @property
    def n_ctx(self) -> int:
        return self.target.engine.n_ctx

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return sum(len(m.content.split()) for m in messages)

    def generate(self, request: GenerationRequest, *, on_token: TokenCallback | None = None,
                 cancel: CancelSignal | None = None) -> Completion:
        self.calls += 1
        if self._gate is not None:
            self._gate.wait(10)
        text = self._script(self.target, request)
        words = text.split(" ")
        produced = []
        finish = "stop"
        for i, word in enumerate(words):
            if cancel is not None and cancel.is_set():
                finish = "cancelled"
                break
            piece = word if i == 0 else " " + word
            produced.append(piece)
            if on_token:
                on_token(piece)
        mean_logprob = self._confidence(self.target, request) if self._confidence is not None else None
        return Completion(text="".join(produced), prompt_tokens=self.count_tokens(request.messages),
                          completion_tokens=len(produced), ttft_s=0.001, total_s=0.002, decode_tok_s=1000.0,
                          finish_reason=finish, mean_logprob=mean_logprob,  # type: ignore[arg-type]
                          logprob_tokens=len(produced) if mean_logprob is not None else 0)

    def close(self) -> None:
        self.closed = True


class ScriptedLoader:
    """Loads ScriptedBackends; each model 'weighs' a fixed number of bytes."""

    def __init__(self, script: Script = echo_script, *, sizes: dict[str, int] | None = None,
                 default_size: int = 100 * 2**20, fail: set[str] | None = None,
                 confidence: Confidence | None = None) -> None:
        self.script = script
        self.confidence = confidence
        self.sizes = sizes or {}
        self.default_size = default_size
        self.fail = fail or set()
        self.loaded: list[ScriptedBackend] = []
        self.gate: threading.Event | None = None

    def estimate(self, target: LoadTarget) -> MemoryEstimate:
        return MemoryEstimate(weights=self.sizes.get(target.model, self.default_size), kv_cache=0, compute=0)

    def load(self, target: LoadTarget) -> ScriptedBackend:
        if target.model in self.fail:
            raise ModelCorruptError(f"scripted load failure for {target.model}", hint="fix the model file")
        backend = ScriptedBackend(target, self.script, self.gate, self.confidence)
        self.loaded.append(backend)
        return backend


class HashEmbedder:
    """Deterministic bag-of-words vectors: same words → same direction."""

    fingerprint = "hash-embedder"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            v = np.zeros(64, dtype=np.float32)
            for word in text.lower().split():
                v[int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1.0
            norm = np.linalg.norm(v)
            rows.append(v / norm if norm else v)
        return np.stack(rows)
