"""The Backend protocol: what LiveMind needs from an inference engine.

A loader estimates a model's memory before loading it and then loads it. A loaded Backend
generates chat completions, streaming each token to a callback and checking a cancel event
between tokens. Requests for one model that arrive together (the personas of a round) are
batched by the scheduler, not by the caller.

A `SequenceBackend` goes further: it decodes one step at a time for every sequence it holds,
and admits new sequences between steps. The scheduler drives it that way, so requests that
arrive while a batch is running (the other personas of a round, other clients) join it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from livemind.errors import LiveMindError
from livemind.types import ChatMessage, Completion, EngineSettings, GenerationRequest, RemoteSpec

TokenCallback = Callable[[str], None]
"""Receives each piece of text as soon as the engine produces it."""

IndexedTokenCallback = Callable[[int, str], None]
"""Receives (request index, piece) for multi-sequence generation."""


# How llama.cpp's OpenMP workers wait between operations; libgomp reads it once, when it loads.
# ms per decode step, 2 threads on 2 cores, 1 sequence / 3 sequences, median of 3 rotated runs
# (Qwen2.5-Coder-1.5B Q4_K_M, the default council's model, Intel Xeon VM, 2026-12-02,
# docs/bench/2026-12-02-default-wait-policy):
#   alone:                          passive 118.7 / 181.5 | spin 100: 112.7 / 173.0 | 1000: 91.5 / 148.8 | 10000: 70.2 / 129.0
#   beside another 2-thread decode: passive 126.3 / 245.3 | spin 100: 128.8 / 249.2 | 1000: 139.8 / 259.5 | 10000: 248.6 / 361.3
# A 1000-iteration spin is 1.23x / 1.16x faster than 100 when LiveMind has the cores (its experts
# share one process, so that is the usual case) and 8.5 % / 4 % slower beside another decoding
# process; 10000 is faster still alone but halves the speed beside one, and the library default
# (300000) collapses to a few tokens a second. On SmolLM2-135M, whose steps are short, 1000 costs
# more beside a neighbour (1.4x here, 1.7x on an AMD EPYC on 2026-11-27): set GOMP_SPINCOUNT=100 or
# OMP_WAIT_POLICY=PASSIVE when LiveMind shares its cores. A user's own setting always wins.
#
# OMP_WAIT_POLICY=ACTIVE goes with it. libgomp cuts the spin to 100 iterations ("throttled") once a
# process holds more OpenMP threads than CPUs, unless the policy is ACTIVE. Every host thread that
# decodes owns a team, so two lanes (two models), or LiveMind beside llama-cpp-python in one process,
# pass that count on 2 cores. Measured 2026-12-03 (AMD EPYC, 2 cores, the 1.5B, 96-token answers,
# median tok/s of 6): one team 30.1; a second idle team in the process, spin 1000 alone 18.8 (the
# throttled spin, the same as PASSIVE's 19.0); with ACTIVE 30.0. ACTIVE with an explicit count
# changes nothing else: the count still bounds every wait.
ENGINE_SPIN_COUNT = "1000"
ENGINE_WAIT_POLICY = {"OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": ENGINE_SPIN_COUNT}


def apply_engine_wait_policy(env: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Set LiveMind's OpenMP wait policy in `env` unless the user chose one; returns env."""
    if "OMP_WAIT_POLICY" not in env and "GOMP_SPINCOUNT" not in env:
        env.update(ENGINE_WAIT_POLICY)
    return env


def available_cores() -> int:
    """CPU cores this process may run on (respects affinity and cpusets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


@runtime_checkable
class CancelSignal(Protocol):
    """Anything with is_set(): a threading.Event, or several combined."""

    def is_set(self) -> bool:
        """Whether generation should stop now."""
        ...


class AnyOf:
    """A cancel signal that is set when any of its parts is."""

    def __init__(self, *signals: CancelSignal | None) -> None:
        self._signals = [s for s in signals if s is not None]

    def is_set(self) -> bool:
        """Whether any part is set."""
        return any(s.is_set() for s in self._signals)


@dataclass(frozen=True)
class LoadTarget:
    """What to load: a model file (or remote endpoint) with its engine settings."""

    model: str
    path: Path | None
    engine: EngineSettings
    chat_format: str | None = None
    remote: RemoteSpec | None = None

    @property
    def is_remote(self) -> bool:
        """Whether the model runs on another server (no local memory)."""
        return self.remote is not None

    @property
    def key(self) -> str:
        """Models with the same file and engine settings share one loaded copy."""
        e = self.engine
        where = f"{self.remote.base_url}#{self.remote.model}" if self.remote else str(self.path)
        return (f"{self.model}|{where}|ctx{e.n_ctx}|{e.kv_type}|fa{int(e.flash_attn)}|t{e.n_threads}"
                f"|b{e.n_batch}/{e.n_ubatch}|s{e.n_seq_max}")


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a model will take once loaded: weights, KV cache and compute buffers."""

    weights: int
    kv_cache: int
    compute: int

    @property
    def total(self) -> int:
        """All the bytes together."""
        return self.weights + self.kv_cache + self.compute


@runtime_checkable
class Backend(Protocol):
    """A loaded model that generates chat completions. Not thread-safe: the pool locks it."""

    @property
    def n_ctx(self) -> int:
        """The context window in tokens."""
        ...

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """How many prompt tokens these messages take, template included."""
        ...

    def generate(
        self,
        request: GenerationRequest,
        *,
        on_token: TokenCallback | None = None,
        cancel: CancelSignal | None = None,
    ) -> Completion:
        """Generate one completion, streaming pieces to on_token, stopping when cancel is set."""
        ...

    def close(self) -> None:
        """Release the model's memory."""
        ...


@dataclass(frozen=True)
class SequenceJob:
    """One request inside a multi-sequence batch, with its own token stream and cancel signal."""

    request: GenerationRequest
    on_token: TokenCallback | None = None
    cancel: CancelSignal | None = None
    created: float = field(default_factory=time.perf_counter)  # waiting for a sequence starts here


@dataclass(frozen=True)
class SequenceResult:
    """A finished sequence: its completion, or the error that ended it (other sequences go on)."""

    job: SequenceJob
    completion: Completion | None = None
    error: LiveMindError | None = None


@runtime_checkable
class SequenceBackend(Backend, Protocol):
    """A backend that decodes several sequences as one batch, one step (token) at a time."""

    @property
    def max_sequences(self) -> int:
        """How many sequences may decode together."""
        ...

    @property
    def active_sequences(self) -> int:
        """Sequences admitted and not yet finished."""
        ...

    def admit(self, job: SequenceJob) -> bool:
        """Start a sequence at the next step; False when there is no free sequence or KV room now."""
        ...

    def step(self) -> list[SequenceResult]:
        """Decode one step for every active sequence; return the sequences that finished."""
        ...

    def set_threads(self, n_threads: int) -> None:
        """Use this many CPU threads from the next step on."""
        ...


class BackendLoader(Protocol):
    """Estimates and loads models for the pool."""

    def estimate(self, target: LoadTarget) -> MemoryEstimate:
        """Bytes the model will take, read from its metadata without loading the weights."""
        ...

    def load(self, target: LoadTarget) -> Backend:
        """Load the model; raise ModelCorruptError or ModelLoadError with a clear message."""
        ...
