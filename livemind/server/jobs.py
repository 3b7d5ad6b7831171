"""Jobs: blocking LiveMind work on worker threads, its events bridged to the event loop.

    event loop                          worker thread (livemind.bridge.ThreadBridge)
    ──────────                          ─────────────
    Job.start(work) ──────────────────▶ work(job): mind.ask / mind.stream ...
    await job.next() ◀────────────────── job.emit(event | Finished | Failed)
    job.cancel(reason) ── threading.Event + hooks ──▶ the engine stops between tokens

The registry knows every live job, so shutdown can cancel them all and wait for their threads.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from livemind.bridge import ThreadBridge
from livemind.errors import LiveMindError
from livemind.events import DebateEvent
from livemind.types import Answer, DebateResult

LOG = logging.getLogger("livemind.http")


@dataclass(frozen=True)
class Finished:
    """The work's final value."""

    value: Answer | DebateResult


@dataclass(frozen=True)
class Failed:
    """The work stopped with an error."""

    error: LiveMindError


JobItem = DebateEvent | Finished | Failed
Work = Callable[["Job"], None]


class Job:
    """One request's work on its own thread, with a cancel switch and an event queue."""

    def __init__(self, name: str, loop: asyncio.AbstractEventLoop) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.name = name
        self.cancel_event = threading.Event()
        self.cancel_reason = ""
        self._bridge: ThreadBridge[JobItem] = ThreadBridge(f"livemind-{name}-{self.id}", loop)
        self._hooks: list[Callable[[], None]] = []
        self._hooks_lock = threading.Lock()
        self.is_finished = False
        self.marks: dict[str, float] = {}  # perf_counter() when each stage of the request was reached

    def mark(self, stage: str, at: float | None = None) -> None:
        """Record when a stage was first reached (later calls keep the first time)."""
        self.marks.setdefault(stage, time.perf_counter() if at is None else at)

    # -- worker side -------------------------------------------------------------------------

    def emit(self, item: JobItem) -> None:
        """Hand an item to the event loop (thread-safe)."""
        if isinstance(item, Finished | Failed):
            self.is_finished = True
        self._bridge.put(item)

    def on_cancel(self, hook: Callable[[], None]) -> None:
        """Run hook when the job is cancelled (at once if it already is)."""
        with self._hooks_lock:
            if not self.cancel_event.is_set():
                self._hooks.append(hook)
                return
        hook()

    @property
    def is_cancelled(self) -> bool:
        """Whether someone asked this job to stop."""
        return self.cancel_event.is_set()

    # -- loop side ---------------------------------------------------------------------------

    def start(self, work: Work) -> None:
        """Run work(job) on a new thread."""
        self._bridge.start(lambda _bridge: self._run(work))

    def _run(self, work: Work) -> None:
        try:
            work(self)
        except Exception as exc:  # the thread's top level: log it and tell the client something useful
            LOG.exception("job %s (%s) failed unexpectedly", self.id, self.name)
            self.emit(Failed(LiveMindError(f"internal error: {type(exc).__name__}: {exc}",
                                           hint="see the server log; report it if it happens again")))

    async def next(self, timeout_s: float | None = None) -> JobItem | None:
        """The next item, or None when timeout_s passes first."""
        return await self._bridge.get(timeout_s)

    def cancel(self, reason: str) -> None:
        """Ask the work to stop; the engine checks between tokens."""
        with self._hooks_lock:
            if self.cancel_event.is_set():
                return
            self.cancel_reason = reason
            self.cancel_event.set()
            hooks, self._hooks = self._hooks, []
        for hook in hooks:
            hook()

    def join(self, timeout_s: float) -> bool:
        """Wait for the thread (blocking); True when it has ended."""
        return self._bridge.join(timeout_s)


class JobRegistry:
    """Every live job, so a shutdown can cancel and wait for them."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, job: Job, work: Work) -> None:
        """Track job and start it; it leaves the registry when its work returns."""
        def tracked(j: Job) -> None:
            try:
                work(j)
            finally:
                with self._lock:
                    self._jobs.pop(j.id, None)

        with self._lock:
            self._jobs[job.id] = job
        job.start(tracked)

    def live(self) -> list[Job]:
        """Jobs whose threads are still running."""
        with self._lock:
            return list(self._jobs.values())

    def cancel_all(self, reason: str) -> int:
        """Cancel every live job; return how many there were."""
        jobs = self.live()
        for job in jobs:
            job.cancel(reason)
        return len(jobs)

    def join_all(self, timeout_s: float) -> list[Job]:
        """Wait (blocking, bounded overall) for every live job; return those still running."""
        deadline = time.monotonic() + timeout_s
        stuck = []
        for job in self.live():
            if not job.join(max(0.0, deadline - time.monotonic())):
                stuck.append(job)
        return stuck
