"""Admission control: a bounded FIFO queue per model in front of the model pool.

    request ── enter(models) ──▶ any lane full? ──▶ BusyError(retry_after_s)     (HTTP 429)
                    │
                    ▼
               Ticket.wait() ── its turn in every lane it needs (FIFO, `concurrency` at a time)
                    │
                    ▼
               generation ── Ticket.release() ──▶ the next ticket in line runs

The pool already serialises generations on one loaded model; admission decides how many
requests may wait for it. A burst becomes quick refusals that say when to come back, rather
than an unbounded pile of threads that all time out. A ticket enters every lane it needs at
once, under one lock, so every lane sees tickets in the same order and two multi-model
requests can never wait on each other in a cycle.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from livemind.engine.backends.base import CancelSignal
from livemind.errors import BusyError, GenerationCancelled

DEFAULT_MAX_QUEUE = 8
DEFAULT_SERVICE_S = 5.0
RETRY_AFTER_BOUNDS_S = (1, 120)


@dataclass(frozen=True)
class LaneStatus:
    """One model's lane at one moment: who runs, who waits, and how many were turned away."""

    model: str
    active: int
    waiting: int
    concurrency: int
    capacity: int
    rejected: int
    mean_service_s: float


@dataclass
class _Lane:
    concurrency: int
    line: deque[Ticket]
    mean_service_s: float
    rejected: int = 0


class Ticket:
    """One admitted request's place in the lanes of every model it needs."""

    def __init__(self, admission: Admission, models: tuple[str, ...]) -> None:
        self.models = models
        self._admission = admission
        self.is_running = False
        self.is_released = False
        self.is_abandoned = False
        self.granted_at: float | None = None

    def wait(self, cancel: CancelSignal | None = None, *, timeout_s: float | None = None) -> None:
        """Block until this ticket may run in every lane; GenerationCancelled if abandoned first."""
        self._admission._wait(self, cancel, timeout_s)

    def abandon(self) -> None:
        """Give up the place in line (the client left); wakes the waiting thread."""
        self._admission._abandon(self)

    def release(self) -> None:
        """Leave every lane and let the next ticket run. Safe to call twice."""
        self._admission._release(self)

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class Admission:
    """Bounded per-model queues: at most `concurrency` run and `max_queue` wait in each lane."""

    def __init__(
        self,
        *,
        max_queue: int = DEFAULT_MAX_QUEUE,
        concurrency: Mapping[str, int] | None = None,
        initial_service_s: float = DEFAULT_SERVICE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_queue < 0:
            raise ValueError("max_queue must be >= 0")
        self.max_queue = max_queue
        self._concurrency = dict(concurrency or {})
        self._initial_service_s = initial_service_s
        self._clock = clock
        self._lanes: dict[str, _Lane] = {}
        self._cond = threading.Condition()
        self._is_closed = False

    # -- entering ----------------------------------------------------------------------------

    def enter(self, models: Sequence[str]) -> Ticket:
        """Take a place in every model's lane now, or raise BusyError if any lane is full."""
        wanted = tuple(dict.fromkeys(models))
        if not wanted:
            raise ValueError("a ticket needs at least one model")
        with self._cond:
            if self._is_closed:
                raise BusyError("the server is shutting down and admits no new work", retry_after_s=5)
            lanes = [self._lane_locked(m) for m in wanted]
            for model, lane in zip(wanted, lanes, strict=True):
                capacity = lane.concurrency + self.max_queue
                if len(lane.line) >= capacity:
                    lane.rejected += 1
                    retry = self._retry_after_locked(lane)
                    raise BusyError(
                        f"the queue for model '{model}' is full: {lane.concurrency} running and "
                        f"{len(lane.line) - lane.concurrency} waiting, the limit is {self.max_queue} waiting",
                        retry_after_s=retry,
                    )
            ticket = Ticket(self, wanted)
            for lane in lanes:
                lane.line.append(ticket)
            return ticket

    def _lane_locked(self, model: str) -> _Lane:
        lane = self._lanes.get(model)
        if lane is None:
            lane = _Lane(concurrency=max(1, self._concurrency.get(model, 1)), line=deque(),
                         mean_service_s=self._initial_service_s)
            self._lanes[model] = lane
        return lane

    def _retry_after_locked(self, lane: _Lane) -> float:
        # everyone in line ahead has to be served first, `concurrency` at a time
        rounds = len(lane.line) / lane.concurrency
        low, high = RETRY_AFTER_BOUNDS_S
        return float(min(high, max(low, math.ceil(rounds * lane.mean_service_s))))

    # -- waiting and leaving -----------------------------------------------------------------

    def _may_run_locked(self, ticket: Ticket) -> bool:
        for model in ticket.models:
            lane = self._lanes[model]
            ahead = 0
            for other in lane.line:
                if other is ticket:
                    break
                ahead += 1
            if ahead >= lane.concurrency:
                return False
        return True

    def _wait(self, ticket: Ticket, cancel: CancelSignal | None, timeout_s: float | None) -> None:
        deadline = None if timeout_s is None else self._clock() + timeout_s
        with self._cond:
            while True:
                if ticket.is_abandoned or ticket.is_released or (cancel is not None and cancel.is_set()):
                    raise GenerationCancelled("the request was cancelled while it waited for its turn")
                if self._is_closed:
                    raise GenerationCancelled("the server is shutting down", hint="send the request again later")
                if self._may_run_locked(ticket):
                    ticket.is_running = True
                    ticket.granted_at = self._clock()
                    return
                remaining = None if deadline is None else deadline - self._clock()
                if remaining is not None and remaining <= 0:
                    raise BusyError(f"waited {timeout_s:.0f} s for models {', '.join(ticket.models)} without a turn",
                                    retry_after_s=self._retry_after_locked(self._lanes[ticket.models[0]]))
                self._cond.wait(remaining)

    def _abandon(self, ticket: Ticket) -> None:
        with self._cond:
            ticket.is_abandoned = True
            self._cond.notify_all()

    def _release(self, ticket: Ticket) -> None:
        with self._cond:
            if ticket.is_released:
                return
            ticket.is_released = True
            served_s = self._clock() - ticket.granted_at if ticket.granted_at is not None else None
            for model in ticket.models:
                lane = self._lanes[model]
                lane.line.remove(ticket)
                if served_s is not None:
                    # a moving average keeps Retry-After close to what the last requests cost
                    lane.mean_service_s = 0.7 * lane.mean_service_s + 0.3 * served_s
            self._cond.notify_all()

    def close(self) -> None:
        """Admit nothing more and wake every waiting ticket (it raises GenerationCancelled)."""
        with self._cond:
            self._is_closed = True
            self._cond.notify_all()

    # -- reading -----------------------------------------------------------------------------

    def status(self) -> list[LaneStatus]:
        """Every lane seen so far, in the order they were first used."""
        with self._cond:
            return [
                LaneStatus(
                    model=model,
                    active=sum(1 for t in lane.line if t.is_running),
                    waiting=sum(1 for t in lane.line if not t.is_running),
                    concurrency=lane.concurrency,
                    capacity=lane.concurrency + self.max_queue,
                    rejected=lane.rejected,
                    mean_service_s=round(lane.mean_service_s, 3),
                )
                for model, lane in self._lanes.items()
            ]
