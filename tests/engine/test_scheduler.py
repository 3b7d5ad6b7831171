"""The scheduler: concurrent calls for one model share a batch; modes decide who joins and how cores split."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from livemind.config import LiveMindConfig
from livemind.council.prompts import revision_messages
from livemind.engine.backends.base import (
    CancelSignal,
    LoadTarget,
    MemoryEstimate,
    SequenceBackend,
    SequenceJob,
    SequenceResult,
    TokenCallback,
)
from livemind.engine.pool import ModelPool
from livemind.engine.ram import MemoryReading, RamGuard
from livemind.engine.scheduler import CoreBudget, Scheduler
from livemind.errors import ModelCorruptError, PromptTooLongError
from livemind.orchestrator import LiveMind
from livemind.types import ChatMessage, Completion, EngineSettings, GenerationRequest, SamplingSettings
from tests.support.fakes import ScriptedLoader

WAIT_S = 10


class FakeSequenceBackend:
    """Decodes one word per sequence per step; a gate lets a test hold the batch between steps."""

    def __init__(self, target: LoadTarget, max_sequences: int = 4) -> None:
        self.target = target
        self._max = max_sequences
        self.active: list[list[object]] = []  # [job, words left, words produced]
        self.widths: list[int] = []
        self.threads: list[int] = []
        self.admitted: list[str] = []
        self.changed = threading.Condition()
        self.gate: threading.Semaphore | None = None

    @property
    def n_ctx(self) -> int:
        return 2048

    @property
    def max_sequences(self) -> int:
        return self._max

    @property
    def active_sequences(self) -> int:
        return len(self.active)

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return sum(len(m.content.split()) for m in messages)

    def admit(self, job: SequenceJob) -> bool:
        content = job.request.messages[-1].content
        if "too long" in content:
            raise PromptTooLongError(tokens=5000, limit=2047)
        if len(self.active) >= self._max:
            return False
        with self.changed:
            self.active.append([job, job.request.sampling.max_tokens, []])
            self.admitted.append(content)
            self.changed.notify_all()
        return True

    def step(self) -> list[SequenceResult]:
        if self.gate is not None:
            assert self.gate.acquire(timeout=WAIT_S), "the test never opened the gate"
        with self.changed:
            self.widths.append(len(self.active))
            self.changed.notify_all()
        finished = []
        for entry in list(self.active):
            job, left, produced = entry
            assert isinstance(job, SequenceJob) and isinstance(left, int) and isinstance(produced, list)
            if job.cancel is not None and job.cancel.is_set():
                finished.append(self._finish(entry, "cancelled"))
                continue
            word = f"{job.request.messages[-1].content}-{len(produced)}"
            produced.append(word)
            if job.on_token is not None:
                job.on_token(word + " ")
            entry[1] = left - 1
            if left - 1 == 0:
                finished.append(self._finish(entry, "stop"))
        return finished

    def _finish(self, entry: list[object], reason: str) -> SequenceResult:
        self.active.remove(entry)
        job, _, produced = entry
        assert isinstance(job, SequenceJob) and isinstance(produced, list)
        completion = Completion(text=" ".join(produced), prompt_tokens=1, completion_tokens=len(produced), ttft_s=0.0,
                                total_s=0.0, decode_tok_s=0.0, finish_reason=reason)  # type: ignore[arg-type]
        with self.changed:
            self.changed.notify_all()
        return SequenceResult(job=job, completion=completion)

    def set_threads(self, n_threads: int) -> None:
        self.threads.append(n_threads)

    def generate(self, request: GenerationRequest, *, on_token: TokenCallback | None = None,
                 cancel: CancelSignal | None = None) -> Completion:
        raise AssertionError("the scheduler drives sequence backends step by step")

    def close(self) -> None:
        pass

    def wait_admitted(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.admitted) >= count, timeout=WAIT_S)


class FakeSequenceLoader:
    def __init__(self, fail: bool = False) -> None:
        self.backends: list[FakeSequenceBackend] = []
        self.fail = fail

    def estimate(self, target: LoadTarget) -> MemoryEstimate:
        return MemoryEstimate(weights=100, kv_cache=0, compute=0)

    def load(self, target: LoadTarget) -> FakeSequenceBackend:
        if self.fail:
            raise ModelCorruptError("scripted corrupt model", hint="re-download it")
        backend = FakeSequenceBackend(target)
        self.backends.append(backend)
        return backend


def _guard() -> RamGuard:
    return RamGuard(reader=lambda: MemoryReading(64 * 2**30, 2**30, 63 * 2**30, "test"))


def _target(name: str = "m") -> LoadTarget:
    return LoadTarget(model=name, path=Path(f"/models/{name}.gguf"), engine=EngineSettings())


def _request(text: str, words: int = 3, conversation: str | None = None, group: str | None = None) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage(role="user", content=text),),
                             sampling=SamplingSettings(max_tokens=words), conversation=conversation, batch_group=group)


Streams = dict[int, list[tuple[str, str]]]


def _in_threads(scheduler: Scheduler, calls: list[tuple[LoadTarget, GenerationRequest]]
                ) -> tuple[list[threading.Thread], dict[int, Completion], Streams]:
    results: dict[int, Completion] = {}
    streams: Streams = {i: [] for i in range(len(calls))}

    def call(i: int, target: LoadTarget, request: GenerationRequest) -> None:
        results[i] = scheduler.generate(target, request,
                                        on_token=lambda piece: streams[i].append((threading.current_thread().name, piece)))

    threads = [threading.Thread(target=call, args=(i, t, r), name=f"caller-{i}") for i, (t, r) in enumerate(calls)]
    for thread in threads:
        thread.start()
    return threads, results, streams


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(WAIT_S)
        assert not thread.is_alive(), "a caller never got its answer"


def test_concurrent_calls_for_one_model_decode_as_one_batch_and_stream_to_their_own_callers() -> None:
    loader = FakeSequenceLoader()
    scheduler = Scheduler(ModelPool(loader, _guard()), mode="latency", cores=2)
    gate = threading.Semaphore(0)
    with scheduler.pool.lease(_target()) as backend:  # load it first, to hold the batch at the gate
        assert isinstance(backend, FakeSequenceBackend)
        backend.gate = gate
    threads, results, streams = _in_threads(scheduler, [(_target(), _request(f"p{i}", conversation=f"s1:e{i}", group="s1"))
                                                        for i in range(3)])
    backend.wait_admitted(1)
    # Every call must have reached the scheduler before the first step ends: a caller thread that starts late
    # (a loaded machine) would queue only after the lane had entered its next step with one sequence.
    _until(lambda: len(backend.admitted) + sum(len(lane.waiting) for lane in scheduler._lanes.values()) == 3)
    gate.release()  # the first step may run alone; the others are admitted before the next one
    backend.wait_admitted(3)
    for _ in range(10):
        gate.release()
    _join(threads)
    assert max(backend.widths) == 3, f"three sequences in one step, saw {backend.widths}"
    for i in range(3):
        assert results[i].text == f"p{i}-0 p{i}-1 p{i}-2"
        assert [name for name, _ in streams[i]] == [f"caller-{i}"] * 3, "tokens reach each caller in its own thread"
    assert backend.threads and set(backend.threads) == {2}, "latency mode gives every step all cores"
    assert scheduler.reports()[0].max_batch == 3


@pytest.mark.parametrize(("mode", "joins"), [("latency", False), ("throughput", True)])
def test_another_session_joins_the_running_batch_only_in_throughput_mode(mode: str, joins: bool) -> None:
    loader = FakeSequenceLoader()
    scheduler = Scheduler(ModelPool(loader, _guard()), mode=mode, cores=2)  # type: ignore[arg-type]
    gate = threading.Semaphore(0)
    with scheduler.pool.lease(_target()) as backend:
        assert isinstance(backend, FakeSequenceBackend)
        backend.gate = gate
    first, _, _ = _in_threads(scheduler, [(_target(), _request("a", words=4, conversation="session-a:x", group="session-a"))])
    backend.wait_admitted(1)
    second, results, _ = _in_threads(scheduler, [(_target(), _request("b", words=1, conversation="session-b:y",
                                                                      group="session-b"))])
    gate.release()  # step 1: only "a" is in; "b" was queued during the step
    gate.release()  # step 2: "b" joins here in throughput mode
    with backend.changed:
        backend.changed.wait_for(lambda: len(backend.widths) >= 2, timeout=WAIT_S)
    assert (backend.widths[1] == 2) is joins, backend.widths
    for _ in range(10):
        gate.release()
    _join(first + second)
    assert results[0].text == "b-0"
    if not joins:
        assert backend.admitted == ["a", "b"] and max(backend.widths) == 1


@pytest.mark.parametrize("group", [None, "code-1"], ids=["no group", "one group"])
def test_requests_without_a_session_batch_in_latency_mode_only_when_they_name_one_group(group: str | None) -> None:
    """The candidates of one code consensus (or the samples of one question) name a group: one batch, not a queue."""
    loader = FakeSequenceLoader()
    scheduler = Scheduler(ModelPool(loader, _guard()), mode="latency", cores=2)
    gate = threading.Semaphore(0)
    with scheduler.pool.lease(_target()) as backend:
        assert isinstance(backend, FakeSequenceBackend)
        backend.gate = gate
    requests = [_request(f"c{i}").model_copy(update={"batch_group": group}) for i in range(3)]
    threads, results, _ = _in_threads(scheduler, [(_target(), r) for r in requests])
    backend.wait_admitted(1)
    gate.release()
    if group is not None:
        backend.wait_admitted(3)
    for _ in range(20):
        gate.release()
    _join(threads)
    assert max(backend.widths) == (3 if group else 1), backend.widths
    assert sorted(r.text for r in results.values()) == [f"c{i}-0 c{i}-1 c{i}-2" for i in range(3)]


def _gated_scheduler() -> tuple[Scheduler, FakeSequenceBackend, threading.Semaphore]:
    """A scheduler whose backend takes one step per release of the returned gate."""
    scheduler = Scheduler(ModelPool(FakeSequenceLoader(), _guard()), cores=2)
    gate = threading.Semaphore(0)
    with scheduler.pool.lease(_target()) as backend:
        assert isinstance(backend, FakeSequenceBackend)
        backend.gate = gate
    return scheduler, backend, gate


def test_cancelling_one_caller_stops_its_sequence_at_the_next_step_and_not_the_others() -> None:
    scheduler, backend, gate = _gated_scheduler()
    cancel = threading.Event()
    seen: list[str] = []

    def on_token(piece: str) -> None:
        seen.append(piece)
        cancel.set()

    results: dict[str, Completion] = {}
    callers = [
        threading.Thread(target=lambda: results.setdefault("other", scheduler.generate(
            _target(), _request("keep", words=5, conversation="s:b", group="s")))),
        threading.Thread(target=lambda: results.setdefault("cancelled", scheduler.generate(
            _target(), _request("stop", words=50, conversation="s:a", group="s"), on_token=on_token, cancel=cancel))),
    ]
    callers[0].start()
    backend.wait_admitted(1)
    callers[1].start()
    gate.release()  # step 1: "keep" alone; "stop" joins after it
    backend.wait_admitted(2)
    gate.release()  # step 2: both produce a word; the caller of "stop" cancels on its first
    assert cancel.wait(WAIT_S), "the first token reached the caller"
    for _ in range(10):
        gate.release()
    _join(callers)
    assert results["cancelled"].finish_reason == "cancelled" and len(seen) <= 2
    assert results["cancelled"].tokens_after_cancel == 0  # the step after the cancel ended it
    assert results["other"].finish_reason == "stop" and results["other"].completion_tokens == 5


def test_tokens_decoded_before_a_cancel_but_read_after_it_are_not_counted_as_late() -> None:
    scheduler, backend, gate = _gated_scheduler()
    cancel = threading.Event()
    slow_reader = threading.Event()
    seen: list[str] = []

    def on_token(piece: str) -> None:  # a request thread that falls behind the engine
        seen.append(piece)
        if len(seen) == 1:
            assert slow_reader.wait(WAIT_S)
            cancel.set()

    results: dict[str, Completion] = {}
    caller = threading.Thread(target=lambda: results.setdefault("cancelled", scheduler.generate(
        _target(), _request("stop", words=50), on_token=on_token, cancel=cancel)))
    caller.start()
    backend.wait_admitted(1)
    for _ in range(4):  # four words decoded; the reader is still on the first
        gate.release()
    deadline = time.monotonic() + WAIT_S
    while len(backend.active[0][2]) < 4:  # type: ignore[arg-type]
        assert time.monotonic() < deadline, "the engine never decoded four words"
        time.sleep(0.01)
    slow_reader.set()
    assert cancel.wait(WAIT_S)
    gate.release()  # the step after the cancel ends the sequence
    _join([caller])  # meanwhile the hand-off queue gave up its three words, decoded before the cancel
    assert results["cancelled"].finish_reason == "cancelled" and len(seen) == 4
    assert results["cancelled"].tokens_after_cancel == 0


def test_a_token_decoded_while_the_cancel_is_set_is_counted() -> None:
    scheduler = Scheduler(ModelPool(FakeSequenceLoader(), _guard()), cores=2)

    class SetDuringTheFirstStep:
        """Clear at admission and at the step's own check, set by the time its token is handed over."""

        checks = 0

        def is_set(self) -> bool:
            self.checks += 1
            return self.checks > 2

    completion = scheduler.generate(_target(), _request("stop", words=50), cancel=SetDuringTheFirstStep())
    assert completion.finish_reason == "cancelled"
    assert completion.completion_tokens == 1 and completion.tokens_after_cancel == 1


def test_a_prompt_that_is_too_long_fails_only_its_own_caller() -> None:
    scheduler = Scheduler(ModelPool(FakeSequenceLoader(), _guard()), cores=2)
    with pytest.raises(PromptTooLongError):
        scheduler.generate(_target(), _request("too long"))
    assert scheduler.generate(_target(), _request("fine", words=2)).text == "fine-0 fine-1"


def test_a_model_that_fails_to_load_fails_every_waiting_caller_with_the_load_error() -> None:
    scheduler = Scheduler(ModelPool(FakeSequenceLoader(fail=True), _guard()), cores=2)
    threads = []
    errors: list[BaseException] = []

    def call(i: int) -> None:
        try:
            scheduler.generate(_target(), _request(f"q{i}"))
        except ModelCorruptError as exc:
            errors.append(exc)

    for i in range(3):
        threads.append(threading.Thread(target=call, args=(i,)))
        threads[-1].start()
    _join(threads)
    assert len(errors) == 3 and all("scripted corrupt model" in str(e) for e in errors)


def test_backends_without_sequences_still_run_one_generation_per_lease() -> None:
    loader = ScriptedLoader()
    scheduler = Scheduler(ModelPool(loader, _guard()), cores=2)
    threads, results, streams = _in_threads(scheduler, [(_target("a"), _request(f"question {i}")) for i in range(3)])
    _join(threads)
    assert not isinstance(loader.loaded[0], SequenceBackend)
    assert sorted(r.text for r in results.values()) == [f"a says: question {i}" for i in range(3)]
    assert loader.loaded[0].calls == 3
    assert scheduler.pool.status().loaded[0].uses == 3
    for i, stream in streams.items():
        assert "".join(piece for _, piece in stream) == results[i].text, "every word was streamed to its caller"


def test_core_budget_gives_all_cores_in_latency_mode_and_shares_them_in_throughput_mode() -> None:
    budget = CoreBudget(4)
    with budget.lane("a"):
        assert budget.threads("throughput") == 4
        with budget.lane("b"):
            assert budget.threads("throughput") == 2
            assert budget.threads("latency") == 4
            assert budget.threads("throughput", pinned=3) == 3, "an expert's explicit n_threads is kept"
    assert budget.threads("throughput") == 4


def test_latency_mode_lets_one_model_step_at_a_time() -> None:
    budget = CoreBudget(2)
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def first() -> None:
        with budget.turn("latency"):
            order.append("first in")
            inside.set()
            release.wait(WAIT_S)
            order.append("first out")

    def second() -> None:
        with budget.turn("latency"):
            order.append("second in")

    a = threading.Thread(target=first)
    a.start()
    assert inside.wait(WAIT_S)
    b = threading.Thread(target=second)
    b.start()
    b.join(0.2)  # bounded: the second step must still be waiting for its turn
    assert order == ["first in"]
    release.set()
    _join([a, b])
    assert order == ["first in", "first out", "second in"]


@pytest.mark.slow
def test_a_real_debate_batches_the_personas_and_reads_only_the_new_turn_in_round_two(
        home: Path, tiny_config: LiveMindConfig) -> None:
    mind = LiveMind(tiny_config, home=home)
    try:
        result = mind.debate("Can humans be replaced by AI within 20 years?", experts=["generalist", "ethicist", "coder"],
                             rounds=1, mode="parallel", seed=3, max_tokens=16)
        report = mind.runner.scheduler.reports()
        first = {p.expert: p for p in result.history[0].positions}
        second = {p.expert: p for p in result.history[1].positions}
        spec = tiny_config.expert("generalist")
        own = [first["generalist"]]
        others = [[first["ethicist"], first["coder"]]]
        with mind.pool.lease(mind.runner.target_for(spec)) as backend:
            full = backend.count_tokens(revision_messages(spec, result.question, own, others))
    finally:
        mind.close()
    assert result.rounds == 1
    assert max(lane.max_batch for lane in report) >= 2, f"the personas shared a batch: {report}"
    # a full re-read would evaluate `full` tokens; with the conversation kept, the first prompt is not read again
    assert second["generalist"].prompt_tokens <= full - first["generalist"].prompt_tokens
