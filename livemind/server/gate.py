"""The gate every generating request passes in a server process, whichever adapter it came through.

    HTTP route ─┐                              ┌─ Admission: a place in each model's lane, or BusyError
                ├─ Gate.enter(models, …) ─────┤
    MCP tool ───┘                              └─ Metrics: requests, tokens, TTFT, outcome

So an MCP tool call inside `livemind serve` queues behind HTTP requests for the same model and
shows up in /metrics, instead of bypassing both.
"""

from __future__ import annotations

from collections.abc import Sequence

from livemind.engine.backends.base import CancelSignal
from livemind.errors import BusyError, GenerationCancelled, LiveMindError, RamBudgetExceeded, RequestError
from livemind.server.admission import Admission, Ticket
from livemind.server.metrics import Metrics, RequestTracker


def outcome_of(error: LiveMindError, *, is_cancelled: bool) -> str:
    """The metrics outcome of a failed request."""
    if isinstance(error, GenerationCancelled) and is_cancelled:
        return "cancelled"
    if isinstance(error, BusyError):
        return "busy"
    if isinstance(error, RequestError):
        return "invalid"
    if isinstance(error, RamBudgetExceeded):
        return "ram_refused"
    return "error"


class Pass:
    """One admitted request: its place in the lanes and its measurements."""

    def __init__(self, ticket: Ticket, tracker: RequestTracker) -> None:
        self.ticket = ticket
        self.tracker = tracker

    def wait(self, cancel: CancelSignal | None = None) -> None:
        """Block until every lane lets this request run (GenerationCancelled if cancelled meanwhile)."""
        self.ticket.wait(cancel)

    def token(self, _piece: str = "") -> None:
        """Count one generated token."""
        self.tracker.token()

    def succeed(self, tok_s: float | None = None) -> None:
        """Record success and leave the lanes."""
        self.tracker.finish("ok", tok_s=tok_s)
        self.ticket.release()

    def fail(self, error: LiveMindError, *, is_cancelled: bool = False) -> None:
        """Record a failure and leave the lanes."""
        late = error.tokens_after_cancel if isinstance(error, GenerationCancelled) else None
        self.tracker.finish(outcome_of(error, is_cancelled=is_cancelled), tokens_after_cancel=late)
        self.ticket.release()

    def leave(self) -> None:
        """Leave the lanes however the request ended: cancelled unless already finished (safe to call twice)."""
        self.tracker.finish("cancelled")  # a no-op once finished
        self.ticket.release()


class Gate:
    """Admission and metrics, shared by the HTTP routes and the MCP tools of one server."""

    def __init__(self, admission: Admission, metrics: Metrics) -> None:
        self.admission = admission
        self.metrics = metrics

    def enter(self, models: Sequence[str], *, endpoint: str, label: str) -> Pass:
        """Take a place in every model's lane now; BusyError (counted) when a lane is full."""
        tracker = self.metrics.track(endpoint, label)
        try:
            ticket = self.admission.enter(models)
        except BusyError:
            tracker.finish("busy")
            raise
        return Pass(ticket, tracker)
