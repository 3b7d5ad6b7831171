"""Responses over a running job: one JSON body, or Server-Sent Events as tokens are produced.

A JobResponse listens for the client leaving the whole time, before the first byte as well as
during the stream, and cancels the job at once: the engine stops within a token or two. The
status line waits for the job's first item, so a refusal that comes from the engine (prompt too
long, RAM budget, a queue timeout) is still a proper 4xx/5xx rather than an error inside a 200.

Renderers decide what the items look like on the wire:

    OpenAIRenderer   chat.completion / chat.completion.chunk (content = the answer or synthesis)
    CouncilRenderer  `event: <kind>` frames with every token, round, agreement and the result
"""

from __future__ import annotations

import json
from typing import Protocol

import anyio
from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from livemind.events import EVENT_TYPES, TEXT_EVENTS, DebateEvent, SynthesisToken, TokenEvent, wire_form
from livemind.http.errors import problem_for, problem_response, sse_error_frame
from livemind.http.wire import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    Delta,
    ExtraJson,
    answer_extra,
    answer_usage,
    completion_id,
    finish_reason_of,
    now,
    progress_extra,
    result_extra,
    result_usage,
)
from livemind.server.jobs import Failed, Finished, Job, JobItem
from livemind.types import Answer, DebateResult, RouteDecision

HEARTBEAT_S = 15.0
SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
               (b"x-accel-buffering", b"no")]
PROGRESS_KINDS = frozenset({"route", "expert_finished", "expert_dropped", "round_done", "synthesis_started"})


def sse_frame(data: str, *, event: str | None = None) -> bytes:
    """One Server-Sent Event."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode()


def _json(model: BaseModel) -> str:
    return json.dumps(model.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))


class Renderer(Protocol):
    """Turns job items into wire frames (streaming) or one body (not streaming)."""

    def frames(self, item: Finished | DebateEvent) -> list[bytes]:
        """The frames for one item."""
        ...

    def closing(self) -> list[bytes]:
        """The frames that end the stream."""
        ...

    def body(self, value: Answer | DebateResult) -> BaseModel:
        """The complete response."""
        ...


class OpenAIRenderer:
    """OpenAI chat completions; for councils the content is the synthesised answer."""

    def __init__(self, *, model: str, kind: str, routing: RouteDecision | None, include_usage: bool) -> None:
        self.id = completion_id()
        self.created = now()
        self.model = model
        self.kind = kind
        self.routing = routing
        self.include_usage = include_usage
        self._has_role = False
        self._streamed: list[str] = []

    def _chunk(self, delta: Delta, *, finish_reason: str | None = None, livemind: ExtraJson | None = None) -> bytes:
        chunk = ChatCompletionChunk(id=self.id, created=self.created, model=self.model, livemind=livemind,
                                    choices=[ChunkChoice(delta=delta, finish_reason=finish_reason)])
        return sse_frame(_json(chunk))

    def _content(self, text: str) -> list[bytes]:
        frames = []
        if not self._has_role:
            self._has_role = True
            frames.append(self._chunk(Delta(role="assistant", content="")))
        self._streamed.append(text)
        frames.append(self._chunk(Delta(content=text)))
        return frames

    def frames(self, item: Finished | DebateEvent) -> list[bytes]:
        """Content chunks, progress chunks (councils) and the final chunk."""
        if isinstance(item, EVENT_TYPES):
            if (isinstance(item, TokenEvent) and self.kind == "expert") or isinstance(item, SynthesisToken):
                return self._content(item.text)
            if self.kind != "expert" and item.kind in PROGRESS_KINDS:
                return [self._chunk(Delta(), livemind=progress_extra(item))]
            return []
        value = item.value
        frames: list[bytes] = []
        if isinstance(value, DebateResult):
            streamed = "".join(self._streamed)
            if not streamed.strip():
                frames += self._content(value.answer)
            elif value.synthesis_error and " ".join(streamed.split()) != " ".join(value.answer.split()):
                frames += self._content(f"\n\n[{value.synthesis_error}; the most central position follows]\n\n"
                                        + value.answer)
            extra, usage, finish = result_extra(value, self.routing, self.kind), result_usage(value), "stop"
        else:
            if not self._has_role:
                frames += self._content("")
            extra, usage, finish = answer_extra(value, self.routing), answer_usage(value), \
                finish_reason_of(value.finish_reason)
        frames.append(self._chunk(Delta(), finish_reason=finish, livemind=extra))
        if self.include_usage:
            frames.append(sse_frame(_json(ChatCompletionChunk(id=self.id, created=self.created, model=self.model,
                                                              choices=[], usage=usage))))
        return frames

    def closing(self) -> list[bytes]:
        """`data: [DONE]`."""
        return [b"data: [DONE]\n\n"]

    def body(self, value: Answer | DebateResult) -> BaseModel:
        """A chat.completion."""
        if isinstance(value, DebateResult):
            text, finish = value.answer, "stop"
            usage, extra = result_usage(value), result_extra(value, self.routing, self.kind)
        else:
            text, finish = value.answer, finish_reason_of(value.finish_reason)
            usage, extra = answer_usage(value), answer_extra(value, self.routing)
        return ChatCompletion(id=self.id, created=self.created, model=self.model, usage=usage, livemind=extra,
                              choices=[Choice(message=AssistantMessage(content=text), finish_reason=finish)])


class CouncilRenderer:
    """LiveMind's native council stream: every event, named, then the result."""

    def frames(self, item: Finished | DebateEvent) -> list[bytes]:
        """`event: token|route|round_done|...` frames, and `event: result` at the end."""
        if isinstance(item, EVENT_TYPES):
            data = wire_form(item)
            return [sse_frame(json.dumps(data, ensure_ascii=False, separators=(",", ":")), event=item.kind)]
        return [sse_frame(_json(item.value), event="result")]

    def closing(self) -> list[bytes]:
        """Nothing: the result event is the last."""
        return []

    def body(self, value: Answer | DebateResult) -> BaseModel:
        """The DebateResult itself."""
        return value


class JobResponse(Response):
    """Serves one job, cancelling it the moment the client goes away."""

    def __init__(self, job: Job, renderer: Renderer, *, stream: bool, heartbeat_s: float = HEARTBEAT_S) -> None:
        super().__init__(status_code=200)
        self.job = job
        self.renderer = renderer
        self.stream = stream
        self.heartbeat_s = heartbeat_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def watch_disconnect() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    self.job.cancel("the client disconnected")
                    group.cancel_scope.cancel()

                group.start_soon(watch_disconnect)
                await self._respond(send)
                group.cancel_scope.cancel()
        finally:
            if not self.job.is_finished:
                self.job.cancel("the response ended before the work did")

    async def _respond(self, send: Send) -> None:
        item = await self.job.next()
        assert item is not None
        if isinstance(item, Failed):
            await self._send_problem(send, item)
            return
        if not self.stream:
            while not isinstance(item, Finished | Failed):
                item = await self.job.next()
                assert item is not None
            if isinstance(item, Failed):
                await self._send_problem(send, item)
                return
            body = json.dumps(self.renderer.body(item.value).model_dump(mode="json"), ensure_ascii=False).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        pending: JobItem | None = item
        while True:
            if pending is None:
                await send({"type": "http.response.body", "body": b": keep-alive\n\n", "more_body": True})
            elif isinstance(pending, Failed):
                chunk = sse_error_frame(problem_for(pending.error)) + b"".join(self.renderer.closing())
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                break
            else:
                chunk = b"".join(self.renderer.frames(pending))
                if isinstance(pending, Finished):
                    chunk += b"".join(self.renderer.closing())
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    if isinstance(pending, TEXT_EVENTS):
                        self.job.mark("first_frame_sent")
                if isinstance(pending, Finished):
                    break
            pending = await self.job.next(self.heartbeat_s)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _send_problem(self, send: Send, failed: Failed) -> None:
        response = problem_response(problem_for(failed.error))
        await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": bytes(response.body)})
