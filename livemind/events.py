"""What the council says as it works, and what a caller may give it: events and chat input.

    DebateEvent  one thing that happened, in order: route, expert_started, token, expert_finished,
                 expert_dropped, round_done, synthesis_started, synthesis, result (the last one)
    Messages     a chat as input; `question_of` folds it into the one question the experts answer
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field, ValidationError

from livemind.council.prompts import fold_chat
from livemind.errors import InvalidRequestError
from livemind.types import ChatMessage, DebateResult, Value

Messages = Sequence[ChatMessage | Mapping[str, str]]
"""A chat as input: ChatMessage values or {"role": ..., "content": ...} dicts; the last is the user's question."""

EventKind = Literal["route", "expert_started", "token", "expert_finished", "expert_dropped", "round_done",
                    "synthesis_started", "synthesis", "result"]


class DebateEvent(Value):
    """One thing that happened during a debate, in the order it happened."""

    kind: EventKind
    expert: str | None = None
    round: int | str | None = None
    text: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    result: DebateResult | None = None


def question_of(question: str | None, messages: Messages | None) -> str:
    """The question to answer: given as text, or folded from a chat (history and instructions kept)."""
    if messages is None:
        return question or ""
    if question:
        raise InvalidRequestError("pass either a question or messages, not both",
                                  hint="put the question in the last user message")
    try:
        chat = [m if isinstance(m, ChatMessage) else ChatMessage(**m) for m in messages]
    except (TypeError, ValidationError) as exc:
        raise InvalidRequestError(f"messages are malformed: {exc}",
                                  hint='pass {"role": "system"|"user"|"assistant", "content": "..."} items') from exc
    return fold_chat(chat)
