"""The scheduler: concurrent generations on one loaded model become one multi-sequence batch.

The graph is not involved: its parallel `Send` branches (and HTTP clients) each call
`ExpertRunner.generate` in their own thread, and every call lands here.

    generate(target, request) ── ticket ──▶ the model's lane (one per loaded-model key)
                                              │  a worker thread, alive while there is work:
                                              │  pool.lease(target) → backend
                                              │  SequenceBackend: loop { admit tickets ; step() }
                                              │  any other backend: one ticket per lease
    caller thread ◀── tokens, result ─────────┘  (callbacks run in the caller's own thread,
                                                  or in the lane thread with token_thread="decoder")

Modes decide who shares a batch and how the cores are shared:

- `latency`: a batch holds one group at a time — the experts of one session (debate round),
  the requests that name one `group` (the candidates of one code consensus), or one request
  without either. Other groups wait for it to drain, so a request in flight
  keeps its token rate. Every decode step gets every core; when several models are busy,
  their steps take turns.
- `throughput`: any request joins the running batch at the next token, up to the model's
  n_seq_max sequences, whichever client sent it. When several models are busy, the cores are
  divided between them and they decode side by side.

Threads default to every available core (`n_threads = None`); an expert's explicit
n_threads is kept. Splitting or taking turns keeps two models from oversubscribing the cores.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from livemind.engine.backends.base import (
    AnyOf,
    Backend,
    CancelSignal,
    LoadTarget,
    SequenceBackend,
    SequenceJob,
    SequenceResult,
    TokenCallback,
    available_cores,
)
from livemind.engine.pool import ModelPool
from livemind.errors import LiveMindError
from livemind.types import Completion, GenerationRequest

ScheduleMode = Literal["latency", "throughput"]
SCHEDULE_MODES: tuple[ScheduleMode, ...] = ("latency", "throughput")
TokenThread = Literal["caller", "decoder"]
"""Where on_token runs: in the caller's thread (a hand-off per token), or in the thread that decodes the token.

`decoder` saves that hand-off for a caller that forwards tokens to a thread-safe queue of its own (the
graph's `messages` stream). Its callback holds up every sequence of the batch, so it must be quick; if it
raises, only its own generation stops, and `generate` raises that error in the caller's thread.
"""
_ticket_ids = itertools.count()


@dataclass
class _Ticket:
    """One generate call waiting for, or running in, its lane."""

    request: GenerationRequest
    cancel: CancelSignal
    group: str
    submitted: float
    sink: TokenCallback | None = None  # token_thread="decoder": called in the lane thread, no hand-off
    events: queue.SimpleQueue[tuple[str, object]] = field(default_factory=queue.SimpleQueue)
    withdrawn: threading.Event = field(default_factory=threading.Event)
    # stamped and counted in the lane thread as each token is decoded, so tokens still in the hand-off
    # queue when the caller cancels are not mistaken for tokens decoded after it
    first_token_at: float | None = None
    tokens_after_cancel: int = 0

    def job(self) -> SequenceJob:
        return SequenceJob(request=self.request, on_token=self._decoded, cancel=AnyOf(self.cancel, self.withdrawn))

    def _decoded(self, piece: str) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        if self.cancel.is_set():
            self.tokens_after_cancel += 1
        if self.sink is None:
            self.events.put(("token", piece))
        elif not self.withdrawn.is_set():
            try:
                self.sink(piece)
            except BaseException as exc:  # the callback's failure is its caller's: the batch decodes on without it
                self.withdrawn.set()
                self.events.put(("error", exc))

    def resolve(self, result: SequenceResult) -> None:
        if result.error is not None:
            self.events.put(("error", result.error))
        else:
            self.events.put(("done", result.completion))


@dataclass
class _Lane:
    target: LoadTarget
    waiting: deque[_Ticket] = field(default_factory=deque)
    worker: threading.Thread | None = None


@dataclass(frozen=True)
class LaneReport:
    """What one lane has done: batches it ran and how many sequences shared a step."""

    model: str
    steps: int
    sequences: int
    max_batch: int


class CoreBudget:
    """Shares the CPU cores between models decoding at the same time."""

    def __init__(self, cores: int) -> None:
        self.cores = max(1, cores)
        self._active: set[str] = set()
        self._lock = threading.Lock()
        self._turns: deque[threading.Event] = deque()
        self._is_turn_taken = False

    @contextmanager
    def lane(self, key: str) -> Iterator[None]:
        """Count a model as busy while it holds work."""
        with self._lock:
            self._active.add(key)
        try:
            yield
        finally:
            with self._lock:
                self._active.discard(key)

    def threads(self, mode: ScheduleMode, pinned: int | None = None) -> int:
        """Threads for one model's next step: every core (latency) or an equal share (throughput).

        `pinned` is an expert's explicit n_threads, which is always kept.
        """
        if pinned:
            return pinned
        if mode == "latency":
            return self.cores
        with self._lock:
            return max(1, self.cores // max(1, len(self._active)))

    @contextmanager
    def turn(self, mode: ScheduleMode) -> Iterator[None]:
        """In latency mode, one model's step at a time, first come first served."""
        if mode != "latency":
            yield
            return
        mine = threading.Event()
        with self._lock:
            if self._is_turn_taken:
                self._turns.append(mine)
            else:
                self._is_turn_taken = True
                mine.set()
        mine.wait()
        try:
            yield
        finally:
            with self._lock:
                if self._turns:
                    self._turns.popleft().set()  # hand the cores straight to the next in line
                else:
                    self._is_turn_taken = False


class Scheduler:
    """Runs generations for the runner: batched per model when the backend can, one by one otherwise."""

    def __init__(self, pool: ModelPool, *, mode: ScheduleMode = "latency", cores: int | None = None) -> None:
        if mode not in SCHEDULE_MODES:
            raise ValueError(f"unknown schedule mode {mode!r}; use one of {', '.join(SCHEDULE_MODES)}")
        self.pool = pool
        self._mode: ScheduleMode = mode
        self.cores = CoreBudget(cores or available_cores())
        self._lanes: dict[str, _Lane] = {}
        self._cond = threading.Condition()
        self._reports: dict[str, LaneReport] = {}

    @property
    def mode(self) -> ScheduleMode:
        """`latency` or `throughput` (see the module docstring)."""
        return self._mode

    @mode.setter
    def mode(self, mode: ScheduleMode) -> None:
        if mode not in SCHEDULE_MODES:
            raise ValueError(f"unknown schedule mode {mode!r}; use one of {', '.join(SCHEDULE_MODES)}")
        self._mode = mode

    def reports(self) -> list[LaneReport]:
        """Per-model batching figures since start."""
        with self._cond:
            return list(self._reports.values())

    # -- callers -------------------------------------------------------------------------------

    def generate(self, target: LoadTarget, request: GenerationRequest, *, on_token: TokenCallback | None = None,
                 cancel: CancelSignal | None = None, token_thread: TokenThread = "caller") -> Completion:
        """Generate one completion; tokens reach on_token in this thread (or the decoding one: TokenThread).

        Times count from this call.
        """
        if target.is_remote:  # a remote server batches for itself; its tokens arrive in this thread
            with self.pool.lease(target) as backend:
                return backend.generate(request, on_token=on_token, cancel=cancel)
        group = request.batch_group or f"request-{next(_ticket_ids)}"
        in_lane = token_thread == "decoder"
        ticket = _Ticket(request=request, cancel=AnyOf(cancel), group=group, submitted=time.perf_counter(),
                         sink=on_token if in_lane else None)
        with self._cond:
            lane = self._lanes.setdefault(target.key, _Lane(target))
            lane.waiting.append(ticket)
            if lane.worker is None:
                lane.worker = threading.Thread(target=self._work, args=(lane,), daemon=True,
                                               name=f"livemind-lane-{target.model}")
                lane.worker.start()
        return self._wait(ticket, None if in_lane else on_token)

    def _wait(self, ticket: _Ticket, on_token: TokenCallback | None) -> Completion:
        try:
            while True:
                kind, value = ticket.events.get()
                if kind == "token":
                    if on_token is not None:
                        on_token(str(value))
                elif kind == "done":
                    assert isinstance(value, Completion)
                    end = time.perf_counter()
                    first = ticket.first_token_at  # stamped by the lane before "done" was queued
                    return value.model_copy(update={"ttft_s": (first or end) - ticket.submitted,
                                                    "total_s": end - ticket.submitted,
                                                    "tokens_after_cancel": ticket.tokens_after_cancel})
                else:
                    assert isinstance(value, BaseException)
                    raise value
        except BaseException:
            ticket.withdrawn.set()  # the caller is gone (or its callback failed): stop decoding for it
            raise

    # -- lanes ---------------------------------------------------------------------------------

    def _work(self, lane: _Lane) -> None:
        while True:
            with self._cond:
                if not lane.waiting:
                    lane.worker = None
                    return
            try:
                with self.cores.lane(lane.target.key), self.pool.lease(lane.target) as backend:
                    if isinstance(backend, SequenceBackend):
                        self._drive(lane, backend)
                    else:
                        self._serve_one(lane, backend)
            except BaseException as exc:  # a lease or engine failure belongs to the waiting callers
                self._fail_waiting(lane, exc)

    def _fail_waiting(self, lane: _Lane, exc: BaseException) -> None:
        with self._cond:
            failed = list(lane.waiting)
            lane.waiting.clear()
        for ticket in failed:
            ticket.events.put(("error", exc))

    def _serve_one(self, lane: _Lane, backend: Backend) -> None:
        """Backends without sequences: one generation per lease, as the pool always did."""
        with self._cond:
            if not lane.waiting:
                return
            ticket = lane.waiting.popleft()
        job = ticket.job()
        try:
            completion = backend.generate(ticket.request, on_token=job.on_token, cancel=job.cancel)
        except BaseException as exc:  # the engine's error is this caller's, raised in its thread
            ticket.events.put(("error", exc))
            return
        ticket.events.put(("done", completion))

    def _drive(self, lane: _Lane, backend: SequenceBackend) -> None:
        """Admit, step, deliver, until no admitted sequence is left."""
        running: dict[int, _Ticket] = {}
        group: str | None = None
        steps = sequences = widest = 0
        try:
            while True:
                group = self._admit(lane, backend, running, group)
                if not running:
                    return
                mode = self.mode
                backend.set_threads(self.cores.threads(mode, lane.target.engine.n_threads))
                with self.cores.turn(mode):
                    results = backend.step()
                steps += 1
                widest = max(widest, backend.active_sequences + len(results))
                for result in results:
                    ticket = running.pop(id(result.job), None)
                    if ticket is not None:  # None: a sequence orphaned by an earlier engine failure
                        ticket.resolve(result)
                        sequences += 1
                if not running:
                    group = None
        except BaseException as exc:
            for ticket in running.values():
                ticket.withdrawn.set()  # its sequence ends as cancelled at the backend's next step
                ticket.events.put(("error", exc))
            raise
        finally:
            self._record(lane, steps, sequences, widest)

    def _admit(self, lane: _Lane, backend: SequenceBackend, running: dict[int, _Ticket],
               group: str | None) -> str | None:
        """Move waiting tickets into the batch as the mode allows; return the group in flight."""
        with self._cond:
            candidates = list(lane.waiting)
        for ticket in candidates:
            if ticket.cancel.is_set() or ticket.withdrawn.is_set():
                self._take(lane, ticket)
                ticket.events.put(("done", _cancelled()))
                continue
            if self.mode == "latency" and group is not None and ticket.group != group:
                continue
            job = ticket.job()
            try:
                admitted = backend.admit(job)
            except LiveMindError as exc:
                self._take(lane, ticket)
                ticket.events.put(("error", exc))
                continue
            if not admitted:
                break  # every sequence is busy: the rest wait for the next free one
            self._take(lane, ticket)
            running[id(job)] = ticket
            group = group or ticket.group
        return group

    def _take(self, lane: _Lane, ticket: _Ticket) -> None:
        with self._cond:
            lane.waiting.remove(ticket)

    def _record(self, lane: _Lane, steps: int, sequences: int, widest: int) -> None:
        with self._cond:
            old = self._reports.get(lane.target.key, LaneReport(lane.target.model, 0, 0, 0))
            self._reports[lane.target.key] = LaneReport(lane.target.model, old.steps + steps,
                                                        old.sequences + sequences, max(old.max_batch, widest))


def _cancelled() -> Completion:
    return Completion(text="", prompt_tokens=0, completion_tokens=0, ttft_s=0.0, total_s=0.0, decode_tok_s=0.0,
                      finish_reason="cancelled")


__all__ = ["SCHEDULE_MODES", "CoreBudget", "LaneReport", "ScheduleMode", "Scheduler", "TokenThread"]
