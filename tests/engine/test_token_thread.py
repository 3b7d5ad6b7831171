"""token_thread="decoder": a caller's on_token runs in the thread that decodes, and its failure stops only its own
generation, never the batch it decodes in."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from livemind.engine.backends.base import LoadTarget, MemoryEstimate, SequenceJob, SequenceResult
from livemind.engine.pool import ModelPool
from livemind.engine.ram import MemoryReading, RamGuard
from livemind.engine.scheduler import Scheduler
from livemind.types import ChatMessage, Completion, EngineSettings, GenerationRequest, SamplingSettings
from tests.support.fakes import ScriptedLoader

WAIT_S = 10
IDLE_STEP_S = 0.005


class LockstepBackend:
    """Two sequences decode side by side, one word each per step; the first step waits until both are in."""

    def __init__(self) -> None:
        self.active: list[tuple[SequenceJob, list[str]]] = []
        self.both_in = threading.Event()
        self.idle_steps = 0

    n_ctx = 2048
    max_sequences = 2

    @property
    def active_sequences(self) -> int:
        return len(self.active)

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return len(messages)

    def set_threads(self, n_threads: int) -> None:
        pass

    def admit(self, job: SequenceJob) -> bool:
        if len(self.active) == self.max_sequences:
            return False
        name = job.request.messages[-1].content
        self.active.append((job, [f" {name}{i}" for i in range(job.request.sampling.max_tokens or 1)]))
        if len(self.active) == self.max_sequences:
            self.both_in.set()
        return True

    def step(self) -> list[SequenceResult]:
        # No word goes out until both sequences are in. Waiting here would block the lane thread, which
        # is the one that admits the second sequence between steps, so an empty step hands it back.
        if not self.both_in.is_set():
            self.idle_steps += 1
            assert self.idle_steps * IDLE_STEP_S < WAIT_S, "the second sequence never joined the batch"
            time.sleep(IDLE_STEP_S)
            return []
        finished = []
        for job, words in list(self.active):
            cancelled = job.cancel is not None and job.cancel.is_set()
            if not cancelled:
                piece = words.pop(0)
                assert job.on_token is not None
                job.on_token(piece)
            if cancelled or not words:
                self.active.remove((job, words))
                finished.append(SequenceResult(job=job, completion=Completion(
                    text="", prompt_tokens=1, completion_tokens=1, ttft_s=0.0, total_s=0.0, decode_tok_s=0.0,
                    finish_reason="cancelled" if cancelled else "stop")))
        return finished

    def generate(self, request: GenerationRequest, **_: object) -> Completion:
        raise NotImplementedError("the scheduler drives a sequence backend by steps")

    def close(self) -> None:
        pass


class LockstepLoader:
    def estimate(self, target: LoadTarget) -> MemoryEstimate:
        return MemoryEstimate(weights=100, kv_cache=0, compute=0)

    def load(self, target: LoadTarget) -> LockstepBackend:
        return LockstepBackend()


def _pool(loader: object) -> ModelPool:
    return ModelPool(loader, RamGuard(reader=lambda: MemoryReading(64 * 2**30, 2**30, 63 * 2**30, "test")))  # type: ignore[arg-type]


def _target() -> LoadTarget:
    return LoadTarget(model="m", path=Path("/models/m.gguf"), engine=EngineSettings())


def _request(name: str, words: int) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage(role="user", content=name),),
                             sampling=SamplingSettings(max_tokens=words), batch_group="one-batch")


def test_decoder_delivery_calls_on_token_in_the_lane_thread_with_every_piece() -> None:
    scheduler = Scheduler(_pool(ScriptedLoader()), cores=2)
    seen: list[tuple[str, int]] = []
    completion = scheduler.generate(_target(), _request("hello there you", 8),
                                    on_token=lambda piece: seen.append((piece, threading.get_ident())),
                                    token_thread="decoder")
    assert "".join(piece for piece, _ in seen) == completion.text and completion.text
    threads = {ident for _, ident in seen}
    assert len(threads) == 1 and threading.get_ident() not in threads, "every piece arrived in the lane thread"
    assert 0.0 <= completion.ttft_s <= completion.total_s


def test_caller_delivery_still_calls_on_token_in_the_callers_thread() -> None:
    scheduler = Scheduler(_pool(ScriptedLoader()), cores=2)
    threads: set[int] = set()
    scheduler.generate(_target(), _request("hello there you", 8), on_token=lambda _p: threads.add(threading.get_ident()))
    assert threads == {threading.get_ident()}


def test_a_failing_decoder_callback_stops_only_its_own_generation_in_the_batch() -> None:
    scheduler = Scheduler(_pool(LockstepLoader()), cores=2)
    other: list[str] = []
    results: dict[str, Completion] = {}

    def failing(piece: str) -> None:
        if piece.endswith("1"):
            raise ValueError("the reader is gone")

    def run_other() -> None:
        results["other"] = scheduler.generate(_target(), _request("b", 5), on_token=other.append,
                                              token_thread="decoder")

    neighbour = threading.Thread(target=run_other)
    neighbour.start()
    with pytest.raises(ValueError, match="the reader is gone"):
        scheduler.generate(_target(), _request("a", 5), on_token=failing, token_thread="decoder")
    neighbour.join(WAIT_S)
    assert not neighbour.is_alive()
    assert other == [f" b{i}" for i in range(5)] and results["other"].finish_reason == "stop"
