"""Remote backend logic through the openai SDK over httpx's mock transport: streaming, retries, errors, key hygiene."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from livemind.engine.backends.remote import RemoteBackend
from livemind.errors import RemoteExpertError
from livemind.types import ChatMessage, GenerationRequest, RemoteSpec, SamplingSettings

SSE = {"content-type": "text/event-stream"}


def _event(piece: str, finish: str | None = None, logprobs: list[float] | None = None) -> bytes:
    choice: dict[str, object] = {"index": 0, "delta": {"content": piece}, "finish_reason": finish}
    if logprobs is not None:
        choice["logprobs"] = {"content": [{"token": piece, "logprob": lp, "bytes": None, "top_logprobs": []}
                                          for lp in logprobs]}
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [choice]}
    return f"data: {json.dumps(chunk)}\n\n".encode()


def _sse(*pieces: str, usage: dict[str, int] | None = None, finish: str = "stop") -> bytes:
    events = [_event(p) for p in pieces] + [_event("", finish)]
    if usage:
        events.append(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
    return b"".join(events) + b"data: [DONE]\n\n"


class ChunkStream(httpx.SyncByteStream):
    """A response body sent one SSE event at a time, that records being closed and can break half-way."""

    def __init__(self, events: list[bytes], *, break_after: int | None = None) -> None:
        self.events = events
        self.break_after = break_after
        self.sent = 0
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for event in self.events:
            if self.break_after is not None and self.sent >= self.break_after:
                raise httpx.ReadError("connection reset by peer")
            self.sent += 1
            yield event

    def close(self) -> None:
        self.closed = True


def _backend(handler, *, model: str = "m", api_key: str | None = "sekret", **spec: object) -> RemoteBackend:
    remote = RemoteSpec(base_url="http://remote.test/v1", model=model, api_key=api_key, **spec)
    return RemoteBackend(remote, 2048, http_client=httpx.Client(transport=httpx.MockTransport(handler)))


REQUEST = GenerationRequest(messages=(ChatMessage(role="user", content="hi"),), sampling=SamplingSettings(max_tokens=8))


def test_remote_backend_streams_pieces_and_reads_usage() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers=SSE, content=_sse("Hel", "lo ", usage={"prompt_tokens": 9, "completion_tokens": 2}))

    pieces: list[str] = []
    completion = _backend(handler).generate(REQUEST, on_token=pieces.append)
    assert pieces == ["Hel", "lo "] and completion.text == "Hello"
    assert completion.prompt_tokens == 9 and completion.completion_tokens == 2 and completion.finish_reason == "stop"
    assert [r.headers.get("authorization") for r in seen] == ["Bearer sekret"]
    body = json.loads(seen[0].content)
    assert seen[0].url == "http://remote.test/v1/chat/completions"
    assert body["model"] == "m" and body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 8 and body["messages"] == [{"role": "user", "content": "hi"}] and "seed" not in body


def test_remote_backend_maps_length_and_falls_back_to_counted_tokens_without_usage() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=SSE, content=_sse("a", "b", "c", finish="length"))

    backend = _backend(handler)
    completion = backend.generate(REQUEST)
    assert completion.finish_reason == "length" and completion.text == "abc"
    assert completion.completion_tokens == 3 and completion.prompt_tokens == backend.count_tokens(REQUEST.messages)


def test_remote_backend_retries_before_the_first_token_with_a_bound() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] < 3:
            return httpx.Response(503, text="busy")
        return httpx.Response(200, headers=SSE, content=_sse("ok"))

    assert _backend(handler, max_retries=2).generate(REQUEST).text == "ok"
    assert calls["n"] == 3


def test_remote_backend_waits_as_long_as_retry_after_says_before_retrying_a_503() -> None:
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        if len(times) == 1:
            return httpx.Response(503, headers={"retry-after": "1"}, json={"error": {"message": "loading model"}})
        return httpx.Response(200, headers=SSE, content=_sse("ok"))

    assert _backend(handler, max_retries=1).generate(REQUEST).text == "ok"
    assert len(times) == 2
    assert times[1] - times[0] >= 0.95, "Retry-After: 1 is honoured (the SDK's own first backoff is at most 0.5 s)"


def test_remote_backend_gives_up_after_max_retries_with_a_clear_error() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        raise httpx.ConnectError("refused")

    with pytest.raises(RemoteExpertError, match=r"remote expert at http://remote\.test/v1 failed: connection failed"):
        _backend(handler, max_retries=1).generate(REQUEST)
    assert calls["n"] == 2


def test_a_stream_that_breaks_after_a_token_is_not_retried_and_not_returned_as_an_answer() -> None:
    streams: list[ChunkStream] = []

    def handler(request: httpx.Request) -> httpx.Response:
        streams.append(ChunkStream([_event("Par"), _event("tial"), _event("", "stop"), b"data: [DONE]\n\n"],
                                   break_after=1))
        return httpx.Response(200, headers=SSE, stream=streams[-1])

    pieces: list[str] = []
    with pytest.raises(RemoteExpertError, match=r"after 1 streamed pieces \(not retried") as info:
        _backend(handler, max_retries=3).generate(REQUEST, on_token=pieces.append)
    assert pieces == ["Par"], "the first token did stream"
    assert len(streams) == 1, "a request is never retried once a token has streamed"
    assert "connection failed" in str(info.value)


def test_cancelling_mid_stream_closes_the_stream_and_reports_cancelled() -> None:
    cancel = threading.Event()
    stream = ChunkStream([_event(p) for p in ("one ", "two ", "three ", "four ")] + [b"data: [DONE]\n\n"])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=SSE, stream=stream)

    def on_token(piece: str) -> None:
        if piece == "two ":
            cancel.set()

    completion = _backend(handler).generate(REQUEST, on_token=on_token, cancel=cancel)
    assert completion.finish_reason == "cancelled" and completion.text == "one two"
    assert stream.closed, "the connection is dropped so the server stops generating"
    assert stream.sent < len(stream.events), "the rest of the stream is never read"


def test_a_request_cancelled_before_it_starts_never_reaches_the_server() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    cancel = threading.Event()
    cancel.set()
    assert _backend(handler).generate(REQUEST, cancel=cancel).finish_reason == "cancelled"


def test_an_unknown_model_is_named_in_the_error_and_not_retried() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(404, json={"error": {"message": "model 'gpt-9' not found", "type": "invalid_request_error"}})

    with pytest.raises(RemoteExpertError, match="has no model 'gpt-9'") as info:
        _backend(handler, model="gpt-9", max_retries=3).generate(REQUEST)
    assert "model 'gpt-9' not found" in str(info.value)
    assert "GET http://remote.test/v1/models" in info.value.hint
    assert calls["n"] == 1


def test_a_refused_api_key_says_to_set_one() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": "bad key"}})

    with pytest.raises(RemoteExpertError, match=r"refused the API key \(401\)") as info:
        _backend(handler).generate(REQUEST)
    assert info.value.hint == "set api_key for this expert" and "sekret" not in str(info.value)


def test_a_server_that_rejects_stream_options_is_asked_again_without_them() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        if "stream_options" in bodies[-1]:
            return httpx.Response(400, json={"error": {"message": "Unrecognized request argument: stream_options"}})
        return httpx.Response(200, headers=SSE, content=_sse("ok"))

    backend = _backend(handler)
    assert backend.generate(REQUEST).text == "ok"
    assert backend.generate(REQUEST).text == "ok"
    assert ["stream_options" in b for b in bodies] == [True, False, False], "asked once, then never again"


def test_the_servers_token_logprobs_become_the_replys_mean_logprob() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        events = [_event("Hel", logprobs=[-0.5]), _event("lo", logprobs=[-0.25, -0.75]), _event("", "stop")]
        return httpx.Response(200, headers=SSE, content=b"".join(events) + b"data: [DONE]\n\n")

    completion = _backend(handler).generate(REQUEST)
    assert bodies[0]["logprobs"] is True and "top_logprobs" not in bodies[0]
    assert completion.text == "Hello" and completion.logprob_tokens == 3
    assert completion.mean_logprob == pytest.approx(-0.5)


def test_a_server_that_reports_no_logprobs_leaves_the_confidence_unknown() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=SSE, content=_sse("ok"))

    completion = _backend(handler).generate(REQUEST)
    assert completion.mean_logprob is None and completion.logprob_tokens == 0


def test_a_server_that_rejects_logprobs_is_asked_again_without_them_and_never_again() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        if "logprobs" in bodies[-1]:
            return httpx.Response(422, json={"error": {"message": "logprobs is not supported by this server"}})
        return httpx.Response(200, headers=SSE, content=_sse("ok"))

    backend = _backend(handler)
    assert [backend.generate(REQUEST).mean_logprob for _ in range(2)] == [None, None]
    assert ["logprobs" in b for b in bodies] == [True, False, False]
    assert all("stream_options" in b for b in bodies), "only the rejected option is dropped"


def test_without_an_api_key_the_users_openai_key_is_never_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-users-real-key")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-users-real-org")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-users-real-project")
    seen: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, headers=SSE, content=_sse("ok"))

    _backend(handler, api_key=None).generate(REQUEST)
    assert seen and "sk-users-real-key" not in seen[0].get("authorization", "")
    assert "openai-organization" not in seen[0] and "openai-project" not in seen[0]


def test_remote_health_check_names_the_server_that_is_down() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(RemoteExpertError, match="unreachable: ConnectError") as info:
        _backend(handler).check_health()
    assert "sekret" not in str(info.value)


def test_remote_health_check_reports_a_refused_key_and_a_bad_status() -> None:
    statuses = iter([403, 404])

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url == "http://remote.test/v1/models"
        return httpx.Response(next(statuses), text="no")

    backend = _backend(handler)
    with pytest.raises(RemoteExpertError, match=r"refused the API key \(403\)"):
        backend.check_health()
    with pytest.raises(RemoteExpertError, match="answered 404 to /models"):
        backend.check_health()


def test_api_key_never_appears_in_the_spec_repr() -> None:
    spec = RemoteSpec(base_url="http://x/v1", model="m", api_key="sekret")
    assert "sekret" not in repr(spec)
