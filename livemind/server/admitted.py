"""The admission use-case both adapters run: enter the lanes, wait, count tokens, succeed or fail, release.

    HTTP dispatch ─┐                                        ┌─ Gate (livemind serve): lanes + metrics
                   ├─ Doorway.enter(config, experts, …) ───┤
    MCP tool ──────┘        │                               └─ OPEN_DOOR (stdio): lets everything through
                            ▼
             with AdmittedRun(pass) as run:   wait → run.token() per token → run.succeed(tok_s)
                                              a LiveMindError fails it; leaving always releases the lanes

The adapters only translate: HTTP to jobs and SSE, MCP to tool results and progress. Where to
queue and what to count is decided here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Protocol

from livemind.config import LiveMindConfig
from livemind.engine.backends.base import CancelSignal
from livemind.errors import LiveMindError
from livemind.server.gate import Gate, Pass


class Admitted(Protocol):
    """One request's place in the server's lanes (a gate's Pass), or an open door's stand-in."""

    def wait(self, cancel: CancelSignal | None = None) -> None: ...
    def token(self, _piece: str = "") -> None: ...
    def succeed(self, tok_s: float | None = None) -> None: ...
    def fail(self, error: LiveMindError, *, is_cancelled: bool = False) -> None: ...
    def leave(self) -> None: ...


class Doorway(Protocol):
    """Where a generating request enters: a server's gate, or the open door of a process that serves one client."""

    @property
    def is_gated(self) -> bool:
        """Whether entering needs the experts' models (so a routed request is routed before it enters)."""
        ...

    def enter(self, config: LiveMindConfig, experts: Sequence[str], *, endpoint: str, label: str) -> Admitted: ...


class GatedDoor:
    """The server's gate: a place in every model's lane (BusyError when one is full), counted in the metrics."""

    is_gated = True

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def enter(self, config: LiveMindConfig, experts: Sequence[str], *, endpoint: str, label: str) -> Pass:
        """Enter the lanes of the experts' models."""
        models = list(dict.fromkeys(config.expert(e).model for e in experts))
        return self.gate.enter(models, endpoint=endpoint, label=label)


class _OpenPass:
    """Admitted at once, counted nowhere: the stdio MCP server has one client and no lanes."""

    def wait(self, cancel: CancelSignal | None = None) -> None:
        """Nothing to wait for."""

    def token(self, _piece: str = "") -> None:
        """Nothing counts tokens."""

    def succeed(self, tok_s: float | None = None) -> None:
        """Nothing records the outcome."""

    def fail(self, error: LiveMindError, *, is_cancelled: bool = False) -> None:
        """Nothing records the outcome."""

    def leave(self) -> None:
        """No lane to leave."""


class OpenDoor:
    """The no-op gate: every request goes straight in."""

    is_gated = False

    def enter(self, config: LiveMindConfig, experts: Sequence[str], *, endpoint: str, label: str) -> Admitted:
        """An admission that admits, waits for and counts nothing."""
        return _OpenPass()


OPEN_DOOR = OpenDoor()


def doorway(gate: Gate | None) -> Doorway:
    """The server's gate as a doorway, or the open door when there is none."""
    return GatedDoor(gate) if gate is not None else OPEN_DOOR


class AdmittedRun:
    """One admitted request from its wait to its release, the same for every adapter.

    `with AdmittedRun(admitted, is_cancelled=...) as run:` — call run.wait(cancel) before the work,
    run.token() per token and run.succeed(tok_s) when it is done (before announcing the result,
    so whoever runs next sees it counted). A LiveMindError leaving the block fails the request
    (cancelled when is_cancelled() says so); leaving in any way releases the lanes.
    """

    def __init__(self, admitted: Admitted, *, is_cancelled: Callable[[], bool] = lambda: False) -> None:
        self.admitted = admitted
        self._is_cancelled = is_cancelled

    def __enter__(self) -> AdmittedRun:
        return self

    def wait(self, cancel: CancelSignal | None = None) -> None:
        """Block until every lane lets the request run (GenerationCancelled if cancelled meanwhile)."""
        self.admitted.wait(cancel)

    def token(self, _piece: str = "") -> None:
        """Count one generated token."""
        self.admitted.token()

    def succeed(self, tok_s: float | None = None) -> None:
        """Record success and leave the lanes."""
        self.admitted.succeed(tok_s=tok_s)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            if isinstance(error, LiveMindError):
                self.admitted.fail(error, is_cancelled=self._is_cancelled())
        finally:
            self.admitted.leave()  # cancelled unless it already finished; the lanes are released either way


def rate(tokens: int, seconds: float) -> float | None:
    """Tokens per second of a finished council, for the metrics (None when it took no time)."""
    return tokens / seconds if seconds > 0 else None


def lane_concurrency(config: LiveMindConfig, *, batches: bool) -> dict[str, int]:
    """How many requests may run at once on each model; the rest wait in its admission lane.

    A remote server takes what its spec allows. A local model takes one request at a time,
    unless the scheduler batches different requests together (`batches`: throughput mode), in
    which case as many as it has sequences.
    """
    lanes: dict[str, int] = {}
    for spec in config.experts:
        room = spec.remote.max_concurrency if spec.remote is not None else (spec.engine.n_seq_max if batches else 1)
        lanes[spec.model] = min(room, lanes.get(spec.model, room))
    return lanes
