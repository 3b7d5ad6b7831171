"""Remote backend logic over httpx's mock transport: streaming, retries, errors, key hygiene."""

from __future__ import annotations

import json

import httpx
import pytest

from livemind.engine.backends.remote import RemoteBackend
from livemind.errors import RemoteExpertError
from livemind.types import ChatMessage, GenerationRequest, RemoteSpec, SamplingSettings


def _sse(*pieces: str, usage: dict[str, int] | None = None) -> bytes:
    lines = [f"data: {json.dumps({'choices': [{'delta': {'content': p}, 'finish_reason': None}]})}" for p in pieces]
    if usage:
        lines.append(f"data: {json.dumps({'choices': [], 'usage': usage})}")
    lines.append("data: [DONE]")
    return ("\n\n".join(lines) + "\n\n").encode()


def _backend(handler, **spec: object) -> RemoteBackend:
    remote = RemoteSpec(base_url="http://remote.test/v1", model="m", api_key="sekret", **spec)
    return RemoteBackend(remote, 2048, client=httpx.Client(transport=httpx.MockTransport(handler)))


REQUEST = GenerationRequest(messages=(ChatMessage(role="user", content="hi"),), sampling=SamplingSettings(max_tokens=8))


def test_remote_backend_streams_pieces_and_reads_usage() -> None:
    seen_auth: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen_auth.append(request.headers.get("authorization", ""))
        return httpx.Response(200, content=_sse("Hel", "lo", usage={"prompt_tokens": 9, "completion_tokens": 2}))

    pieces: list[str] = []
    completion = _backend(handler).generate(REQUEST, on_token=pieces.append)
    assert pieces == ["Hel", "lo"] and completion.text == "Hello"
    assert completion.prompt_tokens == 9 and completion.completion_tokens == 2
    assert seen_auth == ["Bearer sekret"]


def test_remote_backend_retries_before_the_first_token_with_a_bound() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] < 3:
            return httpx.Response(503, text="busy")
        return httpx.Response(200, content=_sse("ok"))

    assert _backend(handler, max_retries=2).generate(REQUEST).text == "ok"
    assert calls["n"] == 3


def test_remote_backend_gives_up_after_max_retries_with_a_clear_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(RemoteExpertError, match=r"remote expert at http://remote\.test/v1 failed"):
        _backend(handler, max_retries=1).generate(REQUEST)


def test_remote_health_check_names_the_server_that_is_down() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(RemoteExpertError, match="unreachable") as info:
        _backend(handler).check_health()
    assert "sekret" not in str(info.value)


def test_api_key_never_appears_in_the_spec_repr() -> None:
    spec = RemoteSpec(base_url="http://x/v1", model="m", api_key="sekret")
    assert "sekret" not in repr(spec)
