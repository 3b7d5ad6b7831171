"""The OpenAI-compatible wire models in isolation (no server, no client): parsing, folding, chunk shapes."""

from __future__ import annotations

import json

import pytest

from livemind.errors import InvalidRequestError
from livemind.http.wire import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChunkChoice,
    CouncilRequest,
    Delta,
    MessageIn,
    TextPart,
    parse_request,
    question_from_messages,
)


def _chat(**fields: object) -> bytes:
    body: dict[str, object] = {"model": "generalist", "messages": [{"role": "user", "content": "hi"}]}
    body.update(fields)
    return json.dumps(body).encode()


@pytest.mark.parametrize(("body", "says"), [
    (b"{not json", "not valid JSON"),
    (b"", "body is empty"),
    (b"[1, 2]", "must be a JSON object"),
    (_chat(messages="hello"), "field 'messages'"),
    (_chat(max_tokens="5"), "field 'max_tokens'"),
    (_chat(max_tokens=0), "field 'max_tokens'"),
    (_chat(stream="yes"), "field 'stream'"),
    (_chat(messages=[{"role": "tool", "content": "x"}]), "field 'messages.0.role'"),
    (_chat(n=2), "field 'n'"),
])
def test_malformed_chat_requests_name_the_field_at_fault(body: bytes, says: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        parse_request(ChatCompletionRequest, body)
    assert says in refused.value.message


def test_unknown_openai_fields_are_accepted_but_council_requests_are_strict() -> None:
    request = parse_request(ChatCompletionRequest, _chat(temperature=0.2, user="me", max_completion_tokens=9))
    assert request.token_limit == 9
    with pytest.raises(InvalidRequestError, match="field 'expert'"):
        parse_request(CouncilRequest, json.dumps({"question": "q", "expert": "typo"}).encode())


def test_a_single_user_message_is_the_question_itself() -> None:
    assert question_from_messages([MessageIn(role="user", content="  What is 2+2?  ")]) == "What is 2+2?"


def test_instructions_and_earlier_turns_travel_with_the_question() -> None:
    question = question_from_messages([
        MessageIn(role="system", content="Answer in French."),
        MessageIn(role="user", content="Name a colour."),
        MessageIn(role="assistant", content="Rouge."),
        MessageIn(role="user", content=[TextPart(type="text", text="Another one?")]),
    ])
    assert question.startswith("Instructions: Answer in French.")
    assert "User: Name a colour.\nAssistant: Rouge." in question
    assert question.endswith("Question: Another one?")


@pytest.mark.parametrize(("messages", "says"), [
    ([], "'messages' is empty"),
    ([MessageIn(role="user", content="q"), MessageIn(role="assistant", content="a")], "must be the user's question"),
    ([MessageIn(role="user", content="   ")], "last user message is empty"),
])
def test_chats_without_a_user_question_are_refused(messages: list[MessageIn], says: str) -> None:
    with pytest.raises(InvalidRequestError, match=says):
        question_from_messages(messages)


def test_stream_chunks_leave_out_absent_delta_fields_like_openai() -> None:
    chunk = ChatCompletionChunk(id="c", created=1, model="m", choices=[ChunkChoice(delta=Delta(content="x"))])
    data = chunk.model_dump(mode="json")
    assert data["choices"][0]["delta"] == {"content": "x"}
    assert data["choices"][0]["finish_reason"] is None
