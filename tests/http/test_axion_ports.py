"""`livemind serve --axion-ports BASE`: the seed's four servers, as users wired them, from one process.

A real server process on four free loopback ports over the real tiny models, driven by httpx (as
curl would) and by the official `openai` client. Each port answers in its role, refuses what its
role does not serve with an error naming the port that does, and all four share one pool.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.servers import clean_env, four_free_ports, sse_events, start

pytestmark = pytest.mark.slow
REQUEST_S = 300.0
CHAT = [{"role": "user", "content": "Name a colour."}]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, models_home: Path) -> Iterator[int]:
    """The four-port server on the tiny council; yields its base port."""
    home = tmp_path_factory.mktemp("axion")
    (home / "models").symlink_to(models_home / "models", target_is_directory=True)
    port = four_free_ports()
    command = [sys.executable, "-m", "livemind.cli.main", "serve", "--axion-ports", str(port)]
    server = start(command, clean_env(LIVEMIND_HOME=str(home)), port)
    try:
        yield port
    finally:
        assert server.stop() == 0, server.log[-3000:]
        log = server.log
        assert all(f"serving http://127.0.0.1:{p}" in log for p in range(port, port + 4)), log[-3000:]
        assert log.count("livemind.http: ready:") == 1, "one service for the four ports"


def url(port: int, path: str) -> str:
    return f"http://127.0.0.1:{port}{path}"


def client(port: int) -> openai.OpenAI:
    return openai.OpenAI(base_url=url(port, "/v1"), api_key="unused", max_retries=0, timeout=REQUEST_S)


def refusal(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "wrong_port", error
    return f"{error['message']}; {error['hint']}"


def test_the_complete_port_answers_in_one_json_body_and_sends_streams_to_the_streaming_port(base: int) -> None:
    response = httpx.post(url(base, "/v1/chat/completions"), timeout=REQUEST_S,
                          json={"model": "generalist", "messages": CHAT, "max_tokens": 6})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    assert response.json()["choices"][0]["message"]["content"].strip()
    completion = client(base).chat.completions.create(model="livemind-auto", messages=CHAT, max_tokens=6)  # type: ignore[arg-type]
    assert completion.choices[0].message.content and completion.choices[0].finish_reason in ("stop", "length")
    with pytest.raises(openai.BadRequestError) as refused:
        client(base).chat.completions.create(model="generalist", messages=CHAT, max_tokens=6, stream=True)  # type: ignore[arg-type]
    assert f"port {base} serves complete (non-streaming) answers" in str(refused.value)
    assert f"send it to port {base + 1}" in str(refused.value)
    council = httpx.post(url(base, "/v1/chat/completions"), timeout=REQUEST_S,
                         json={"model": "livemind-consensus", "messages": CHAT, "max_tokens": 6})
    assert f"send it to port {base + 2}, which serves parallel councils" in refusal(council)


def test_the_streaming_port_streams_token_by_token_and_sends_complete_requests_to_the_complete_port(base: int) -> None:
    with httpx.stream("POST", url(base + 1, "/v1/chat/completions"), timeout=REQUEST_S,
                      json={"model": "generalist", "messages": CHAT, "max_tokens": 12, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [data for _, data in sse_events(response.iter_lines())]
    pieces = [e["choices"][0]["delta"].get("content") for e in events if "choices" in e]  # type: ignore[index]
    assert sum(1 for p in pieces if p) >= 2, "more than one chunk of text: token by token, not one block"
    assert events[-1] == {"done": True}
    stream = client(base + 1).chat.completions.create(model="generalist", messages=CHAT, max_tokens=8, stream=True)  # type: ignore[arg-type]
    texts = [chunk.choices[0].delta.content for chunk in stream if chunk.choices and chunk.choices[0].delta.content]
    assert texts
    with pytest.raises(openai.BadRequestError) as refused:
        client(base + 1).chat.completions.create(model="generalist", messages=CHAT, max_tokens=6)  # type: ignore[arg-type]
    assert f"port {base + 1} serves answers streamed token by token" in str(refused.value)
    assert f"send it to port {base}" in str(refused.value) and '"stream": true' in str(refused.value)


def test_the_council_port_runs_a_parallel_council_and_sends_single_answers_back(base: int) -> None:
    completion = client(base + 2).chat.completions.create(
        model="livemind-consensus", messages=CHAT, max_tokens=8,  # type: ignore[arg-type]
        extra_body={"livemind": {"experts": ["generalist", "coder"]}})
    extra = completion.model_extra["livemind"]  # type: ignore[index]
    assert extra["mode"] == "parallel", extra["mode_reason"]
    assert {p["expert"] for p in extra["positions"]} == {"generalist", "coder"}
    with pytest.raises(openai.BadRequestError) as refused:
        client(base + 2).chat.completions.create(model="generalist", messages=CHAT, max_tokens=6)  # type: ignore[arg-type]
    assert f"send it to port {base}, which serves complete" in str(refused.value)
    turns = httpx.post(url(base + 2, "/v1/livemind/consensus"), timeout=REQUEST_S,
                       json={"question": "Name a colour.", "mode": "turns", "stream": False})
    assert f"send it to port {base + 3}, which serves the safe" in refusal(turns)


def test_the_safe_port_takes_turns_by_default_and_refuses_a_parallel_council(base: int) -> None:
    response = httpx.post(url(base + 3, "/v1/livemind/consensus"), timeout=REQUEST_S,
                          json={"question": "Name a colour.", "experts": ["generalist", "futurist"], "max_tokens": 6,
                                "stream": False})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["mode"] == "turns" and {p["expert"] for p in result["positions"]} == {"generalist", "futurist"}
    completion = client(base + 3).chat.completions.create(model="generalist", messages=CHAT, max_tokens=6)  # type: ignore[arg-type]
    assert completion.choices[0].message.content
    parallel = httpx.post(url(base + 3, "/v1/chat/completions"), timeout=REQUEST_S,
                          json={"model": "livemind-debate", "messages": CHAT, "livemind": {"mode": "parallel"}})
    assert f"send it to port {base + 2}, which serves parallel councils" in refusal(parallel)


def test_the_four_ports_share_one_pool_and_one_ram_guard(base: int) -> None:
    statuses = [httpx.get(url(port, "/v1/livemind/status"), timeout=60).json() for port in range(base, base + 4)]
    pools = [json.dumps({k: s["pool"][k] for k in ("loads", "evictions", "refusals", "budget_bytes")}) for s in statuses]
    assert len(set(pools)) == 1, pools
    assert all(httpx.get(url(port, "/health"), timeout=30).status_code == 200 for port in range(base, base + 4))
    models = httpx.get(url(base + 1, "/v1/models"), timeout=30).json()
    assert {"generalist", "livemind-consensus"} <= {m["id"] for m in models["data"]}
