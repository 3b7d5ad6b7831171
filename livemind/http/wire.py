"""The HTTP wire shapes: OpenAI-compatible chat completions, LiveMind's native council requests.

Requests are validated strictly (a string where a number belongs is a 400, not a guess) and
turned into the question LiveMind's core takes. Responses are typed models; LiveMind's own
details ride in a `livemind` field that standard OpenAI clients ignore.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, create_model, model_serializer

from livemind.chat import fold_chat
from livemind.council.code.consensus import LEAD_TEMPERATURE
from livemind.council.options import CouncilOptions, Surface, offered
from livemind.errors import InvalidRequestError
from livemind.events import DebateEvent, wire_form
from livemind.limits import ExpertNames, QuestionText, SeedValue, Temperature, TokenCap
from livemind.types import (
    Answer,
    ChatMessage,
    ConsensusMode,
    DebateResult,
    FinishReason,
    RouteDecision,
)

AUTO_MODEL = "livemind-auto"
CONSENSUS_MODEL = "livemind-consensus"
DEBATE_MODEL = "livemind-debate"
VIRTUAL_MODELS: dict[str, str] = {
    AUTO_MODEL: "the router picks the best-matching expert for each question",
    CONSENSUS_MODEL: "the top experts answer independently; a synthesiser merges their answers",
    DEBATE_MODEL: "the top experts answer, revise over debate rounds, then a synthesiser merges them",
}

ExtraJson = dict[str, JsonValue]
RequestT = TypeVar("RequestT", bound=BaseModel)


# -- requests -----------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


class TextPart(_Strict):
    """One text part of a message's content (the list form of `content`)."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    type: Literal["text"]
    text: str


class MessageIn(_Strict):
    """One chat message as OpenAI clients send it."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]

    @property
    def text(self) -> str:
        """The content as plain text."""
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class StreamOptions(_Strict):
    """OpenAI's stream_options."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    include_usage: bool = False


def option_fields(surface: Surface | None = None) -> dict[str, Any]:
    """The council options as wire fields (every one, or those a surface offers): names, types, bounds and help."""
    fields = CouncilOptions.model_fields if surface is None else offered(surface)
    return {name: (field.annotation, field) for name, field in fields.items()}


def options_of(body: BaseModel | None, **values: object) -> CouncilOptions:
    """The council options a request sent (its option fields, plus `values` such as OpenAI's top-level ones)."""
    sent = {name: getattr(body, name) for name in body.model_fields_set if name in CouncilOptions.model_fields} \
        if body is not None else {}
    return CouncilOptions.of(**sent, **values)


class CouncilRequestBase(_Strict):
    """POST /v1/livemind/consensus and /v1/livemind/debate: the question, whether to stream, and every option."""

    question: QuestionText
    stream: bool = True


if TYPE_CHECKING:  # the option fields are made at import time; a type checker sees what every request has
    ChatCouncilOptions = _Strict
    CouncilRequest = CouncilRequestBase
else:
    ChatCouncilOptions = create_model("CouncilOptions", __base__=_Strict, __doc__=(
        "LiveMind's extension for the virtual models: who sits on the council and how it runs."), **option_fields("chat"))
    CouncilRequest = create_model("CouncilRequest", __base__=CouncilRequestBase, __doc__=CouncilRequestBase.__doc__,
                                  **option_fields())


class ChatCompletionRequest(_Strict):
    """POST /v1/chat/completions. Unknown OpenAI fields (top_p, stop, user...) are accepted and ignored."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    model: str
    messages: list[MessageIn]
    stream: bool = False
    max_tokens: TokenCap | None = None
    max_completion_tokens: TokenCap | None = None
    seed: SeedValue | None = None
    temperature: Temperature | None = None
    n: int = Field(1, ge=1, le=1)
    stream_options: StreamOptions | None = None
    livemind: ChatCouncilOptions | None = None

    @property
    def token_limit(self) -> int | None:
        """max_completion_tokens (newer clients) or max_tokens (older ones)."""
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens


def parse_request(kind: type[RequestT], body: bytes) -> RequestT:
    """Validate a JSON body; every problem becomes an InvalidRequestError that names the field."""
    if not body.strip():
        raise InvalidRequestError("the request body is empty", hint="send a JSON object")
    try:
        return kind.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise InvalidRequestError(f"the request body is not valid JSON: {first['msg']}",
                                      hint="send a JSON object with Content-Type: application/json") from exc
        if first["type"] == "model_type" and not first["loc"]:
            raise InvalidRequestError("the request body must be a JSON object",
                                      hint=f"send an object with the fields of {kind.__name__}") from exc
        field = ".".join(str(p) for p in first["loc"]) or "body"
        got = json.dumps(first.get("input"), default=str)
        if len(got) > 80:
            got = got[:77] + "..."
        more = f" (and {len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
        raise InvalidRequestError(f"field '{field}': {first['msg']}, got {got}{more}",
                                  hint="see the OpenAI chat completions format; LiveMind options go under 'livemind'") \
            from exc


def question_from_messages(messages: Sequence[MessageIn]) -> str:
    """Fold an OpenAI chat into one question, as the core folds any chat (`developer` counts as `system`)."""
    if not messages:
        raise InvalidRequestError("'messages' is empty", hint="send at least one message with role 'user'")
    return fold_chat([ChatMessage(role="system" if m.role == "developer" else m.role, content=m.text)
                      for m in messages])


# -- responses ----------------------------------------------------------------------------

class Usage(BaseModel):
    """Token counts, as OpenAI reports them."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    """The answer."""

    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    """The one choice of a complete response."""

    index: int = 0
    message: AssistantMessage
    finish_reason: str


class ChatCompletion(BaseModel):
    """A complete (stream: false) response."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    livemind: ExtraJson


class Delta(BaseModel):
    """What a chunk adds; absent fields are left out, as OpenAI does."""

    role: Literal["assistant"] | None = None
    content: str | None = None

    @model_serializer
    def _without_nones(self) -> dict[str, str]:
        return {k: v for k, v in (("role", self.role), ("content", self.content)) if v is not None}


class ChunkChoice(BaseModel):
    """The one choice of a chunk."""

    index: int = 0
    delta: Delta
    finish_reason: str | None = None


class ChatCompletionChunk(BaseModel):
    """One `data:` line of a stream: true response."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = Field(default=None, exclude_if=lambda v: v is None)
    livemind: ExtraJson | None = Field(default=None, exclude_if=lambda v: v is None)


class ModelCard(BaseModel):
    """One entry of GET /v1/models."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "livemind"
    livemind: ExtraJson


class ModelList(BaseModel):
    """GET /v1/models."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorDetail(BaseModel):
    """OpenAI-style error detail, plus what to do about it."""

    message: str
    type: str
    code: str
    param: str | None = None
    hint: str = ""


class CodeRequest(_Strict):
    """POST /v1/livemind/code: code consensus (the same options as `LiveMind.code` and the MCP tool)."""

    task: QuestionText
    signature: str | None = Field(None, max_length=2000)
    tests: str | None = Field(None, max_length=8000)
    experts: ExpertNames | None = None
    samples: int = Field(1, ge=1, le=16)
    probes: int = Field(0, ge=0, le=12)  # test inputs each expert writes
    lead_samples: int = Field(0, ge=0, le=16)  # more candidates from the first expert, at lead_temperature
    lead_temperature: Temperature = LEAD_TEMPERATURE
    temperature: Temperature | None = None
    seed: SeedValue | None = None
    max_tokens: TokenCap | None = None


class ErrorBody(BaseModel):
    """Every error response."""

    error: ErrorDetail


def completion_id() -> str:
    """A fresh chat completion id."""
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def now() -> int:
    """Unix seconds, for `created`."""
    return int(time.time())


def finish_reason_of(reason: FinishReason) -> str:
    """LiveMind's finish reason as OpenAI spells it."""
    return "length" if reason == "length" else "stop"


def answer_extra(answer: Answer, routing: RouteDecision | None) -> ExtraJson:
    """The `livemind` field of a single expert's response."""
    data = answer.model_dump(mode="json", exclude={"answer", "routing"})
    data["kind"] = "expert"
    data["routing"] = routing.model_dump(mode="json") if routing is not None else None
    return data


def result_extra(result: DebateResult, routing: RouteDecision | None, kind: str) -> ExtraJson:
    """The `livemind` field of a consensus or debate: agreement, positions, dissent, routing."""
    data = result.model_dump(mode="json", exclude={"answer", "question", "history"})
    data["kind"] = kind
    data["rounds_agreement"] = [h.agreement for h in result.history]
    if routing is not None:
        data["routing"] = routing.model_dump(mode="json")
    return data


def answer_usage(answer: Answer) -> Usage:
    """Token counts of one expert's answer."""
    return Usage(prompt_tokens=answer.prompt_tokens, completion_tokens=answer.tokens,
                 total_tokens=answer.prompt_tokens + answer.tokens)


def result_usage(result: DebateResult) -> Usage:
    """Token counts of a whole council (every expert and the synthesiser)."""
    return Usage(prompt_tokens=result.prompt_tokens, completion_tokens=result.tokens,
                 total_tokens=result.prompt_tokens + result.tokens)


def progress_extra(event: DebateEvent) -> ExtraJson:
    """A council event as it rides on an empty OpenAI chunk (no tokens: those are on /v1/livemind)."""
    data: ExtraJson = {"event": event.kind}
    if event.expert is not None:
        data["expert"] = event.expert
    if event.round is not None:
        data["round"] = event.round
    data.update({k: v for k, v in wire_form(event).get("data", {}).items() if k != "scores"})
    return data


def council_mode(requested: str | None, *, is_debate: bool) -> ConsensusMode:
    """The mode a council runs in when the caller did not choose: auto for debates, parallel otherwise."""
    if requested is not None:
        return requested  # type: ignore[return-value]
    return "auto" if is_debate else "parallel"
