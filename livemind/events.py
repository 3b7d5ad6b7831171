"""What the council says as it works: typed events.

    DebateEvent  a discriminated union (by `kind`) of typed events, in order: RouteEvent, ExpertStarted,
                 TokenEvent, ExpertFinished, ExpertDropped, RoundDone, SynthesisStarted,
                 SynthesisToken, SynthesisDone, and a ResultEvent last

The graph's nodes write these objects themselves (LangGraph's custom stream writer); the
tokens come from LangGraph's messages stream. `round` is always a round number: the synthesis
belongs to the council's last round. Each event has one name, its `kind`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

from pydantic import Field

from livemind.errors import LiveMindError
from livemind.types import DebateResult, Value

EventKind = Literal["route", "expert_started", "token", "expert_finished", "expert_dropped", "round_done",
                    "synthesis_started", "synthesis_token", "synthesis_done", "result"]


class _Event(Value):
    """What every event carries: which expert and which round it concerns (when it concerns one)."""

    expert: str | None = None
    round: int | None = None


class RouteEvent(_Event):
    """The router chose the council and the mode (parallel or turn-based), and why."""

    kind: Literal["route"] = "route"
    selected: tuple[str, ...]
    mode: str
    reason: str
    routed_on: str | None = None  # the English translation routed on, for a question in another language
    scores: tuple[dict[str, Any], ...] = ()


class ExpertStarted(_Event):
    """An expert began its answer for a round."""

    kind: Literal["expert_started"] = "expert_started"


class TokenEvent(_Event):
    """A piece of an expert's answer in a round."""

    kind: Literal["token"] = "token"
    text: str


class ExpertFinished(_Event):
    """An expert finished its answer for a round."""

    kind: Literal["expert_finished"] = "expert_finished"
    tokens: int
    seconds: float


class ExpertDropped(_Event):
    """An expert left the council (a failure, a timeout, an empty answer), and why."""

    kind: Literal["expert_dropped"] = "expert_dropped"
    reason: str


class RoundDone(_Event):
    """A round ended: the experts' agreement and the numbers they answered."""

    kind: Literal["round_done"] = "round_done"
    agreement: float
    experts: tuple[str, ...] = ()
    answers: tuple[int | None, ...] = ()


class SynthesisStarted(_Event):
    """The synthesiser began writing the final answer."""

    kind: Literal["synthesis_started"] = "synthesis_started"
    synthesizer: str


class SynthesisToken(_Event):
    """A piece of the synthesiser's final answer (in the council's last round)."""

    kind: Literal["synthesis_token"] = "synthesis_token"
    text: str


class SynthesisDone(_Event):
    """The final answer is decided: written, picked, or the fallback took its place (`error`)."""

    kind: Literal["synthesis_done"] = "synthesis_done"
    answer: str
    agreement: float
    error: str | None = None


class ResultEvent(_Event):
    """The last event of every council: its whole result."""

    kind: Literal["result"] = "result"
    result: DebateResult


DebateEvent = Annotated[RouteEvent | ExpertStarted | TokenEvent | ExpertFinished | ExpertDropped | RoundDone
                        | SynthesisStarted | SynthesisToken | SynthesisDone | ResultEvent, Field(discriminator="kind")]
"""One thing that happened during a council, in order; `kind` tells which (the last is always a ResultEvent)."""

EVENT_TYPES = (RouteEvent, ExpertStarted, TokenEvent, ExpertFinished, ExpertDropped, RoundDone, SynthesisStarted,
               SynthesisToken, SynthesisDone, ResultEvent)
TEXT_EVENTS = (TokenEvent, SynthesisToken)
"""The events that carry generated text, one token each."""


def result_of(event: DebateEvent) -> DebateResult | None:
    """The result, if this is the last event."""
    return event.result if isinstance(event, ResultEvent) else None


def wire_form(event: DebateEvent) -> dict[str, Any]:
    """The JSON the HTTP stream sends: kind, expert, round, text, and the rest under `data` (a stable shape)."""
    fields = event.model_dump(mode="json", exclude={"result"})
    shaped: dict[str, Any] = {"kind": fields.pop("kind")}
    for key in ("expert", "round"):
        if fields.get(key) is not None:
            shaped[key] = fields[key]
        fields.pop(key, None)
    if "text" in fields:
        shaped["text"] = fields.pop("text")
    if fields:
        shaped["data"] = fields
    return shaped




def final_result(events: Iterator[DebateEvent], on_event: Callable[[DebateEvent], None] | None = None) -> DebateResult:
    """Drain a council's events (handing each to on_event) and return its result."""
    result: DebateResult | None = None
    for event in events:
        if on_event is not None:
            on_event(event)
        if (final := result_of(event)) is not None:
            result = final
    return require_result(result)


def require_result(result: DebateResult | None) -> DebateResult:
    """The result, or a LiveMindError saying where to look when a council ended without one."""
    if result is None:
        raise LiveMindError("the debate ended without a result", hint="see `livemind sessions show` for its state")
    return result
