"""A chat as input: the messages a caller may give instead of a question, folded into one question.

    Messages     ChatMessage values or {"role": ..., "content": ...} dicts; the last is the user's question
    question_of  the question to answer, given as text or folded from a chat
    fold_chat    the folding itself: instructions, the conversation so far, then the question
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from livemind.errors import InvalidRequestError
from livemind.types import ChatMessage

Messages = Sequence[ChatMessage | Mapping[str, str]]
"""A chat as input: ChatMessage values or {"role": ..., "content": ...} dicts; the last is the user's question."""


def question_of(question: str | None, messages: Messages | None) -> str:
    """The question to answer: given as text, or folded from a chat (history and instructions kept)."""
    if messages is None:
        return question or ""
    if question:
        raise InvalidRequestError("pass either a question or messages, not both",
                                  hint="put the question in the last user message")
    try:
        chat = [m if isinstance(m, ChatMessage) else ChatMessage.model_validate(m) for m in messages]
    except (TypeError, ValidationError) as exc:
        raise InvalidRequestError(f"messages are malformed: {exc}",
                                  hint='pass {"role": "system"|"user"|"assistant", "content": "..."} items') from exc
    return fold_chat(chat)


def fold_chat(messages: Sequence[ChatMessage]) -> str:
    """Fold a chat into the single question the experts answer.

    The last message is the question. System messages become instructions and earlier turns
    become context, so a multi-turn caller (an app, an OpenAI client) keeps its thread.
    """
    if not messages:
        raise InvalidRequestError("messages is empty", hint="pass at least one message with role 'user'")
    last = messages[-1]
    if last.role != "user":
        raise InvalidRequestError(f"the last message has role '{last.role}'; it must be the user's question",
                                  hint="end the messages with one whose role is 'user'")
    if not last.content.strip():
        raise InvalidRequestError("the last user message is empty", hint="put the question in its content")
    instructions = [m.content.strip() for m in messages if m.role == "system" and m.content.strip()]
    history = [m for m in messages[:-1] if m.role in ("user", "assistant") and m.content.strip()]
    if not instructions and not history:
        return last.content.strip()
    parts = []
    if instructions:
        parts.append("Instructions: " + "\n".join(instructions))
    if history:
        lines = [f"{'User' if m.role == 'user' else 'Assistant'}: {m.content.strip()}" for m in history]
        parts.append("Conversation so far:\n" + "\n".join(lines))
    parts.append("Question: " + last.content.strip())
    return "\n\n".join(parts)
