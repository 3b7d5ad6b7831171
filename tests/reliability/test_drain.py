"""SIGTERM on the HTTP server: running and queued work finishes, new work is refused, the process exits 0.

tests/http/test_http.py already drains one real stream in flight; these extend it to a
queue of requests plus an MCP call in flight, and to work that outlasts the drain. They run the
product's server (Service, admission, jobs, `_Server`'s signal handling, MCP at /mcp) over
scripted backends paced so that requests overlap (tests/reliability/fake_server.py).
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client

from livemind.types import DebateResult
from tests.support.recording import Record
from tests.support.servers import EXIT_S, ServerProcess, sse_events, start_fake_server

pytestmark = pytest.mark.slow
WAIT_S = 120.0
LANE_DEADLINE_S = 60.0


@dataclass
class StreamOutcome:
    """What one streaming client saw."""

    status: int = 0
    chunks: int = 0
    finished: bool = False
    done: bool = False
    error: dict[str, object] = field(default_factory=dict)
    first_chunk: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)


def _stream(server: ServerProcess, model: str, question: str, outcome: StreamOutcome) -> threading.Thread:
    def run() -> None:
        body = {"model": model, "messages": [{"role": "user", "content": question}], "stream": True}
        try:
            with httpx.stream("POST", f"{server.base_url}/v1/chat/completions", json=body, timeout=WAIT_S) as response:
                outcome.status = response.status_code
                for _, data in sse_events(response.iter_lines()):
                    if data.get("done"):
                        outcome.done = True
                    elif "error" in data:
                        outcome.error = data["error"]  # type: ignore[assignment]
                    else:
                        choice = data["choices"][0]  # type: ignore[index]
                        if choice["delta"].get("content"):
                            outcome.chunks += 1
                            outcome.first_chunk.set()
                        if choice.get("finish_reason"):
                            outcome.finished = True
        finally:
            outcome.first_chunk.set()
            outcome.ended.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _refused_after_stop(server: ServerProcess) -> str:
    """A request sent after SIGTERM: 'connection refused' or a 503 that says when to come back."""
    try:
        response = httpx.post(f"{server.base_url}/v1/chat/completions", timeout=30,
                              json={"model": "beta", "messages": [{"role": "user", "content": "late"}]})
    except httpx.TransportError:
        return "connection refused"
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "stopping" and int(response.headers["retry-after"]) >= 1
    return "503 stopping"


@pytest.mark.fault(simulated="scripted engine paced at 100 ms a token; the server, signal and clients are real",
                   fault="SIGTERM with 4 streams (1 running, 3 queued) and an MCP call in flight",
                   kept="all 5 finished; new work refused (503 stopping, or connection refused); exit 0; models unloaded")
def test_sigterm_lets_running_and_queued_work_finish_refuses_new_work_and_exits_0(
        tmp_path: Path, record: Record) -> None:
    server = start_fake_server(tmp_path / "home", pace_ms=100, drain_s=30)
    try:
        routed = threading.Event()
        mcp_result: list[DebateResult] = []

        async def consensus_over_mcp() -> None:
            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                routed.set()

            with anyio.fail_after(WAIT_S):
                try:
                    async with Client(f"{server.base_url}/mcp") as client:
                        # the SDK lists tools before validating a result; after SIGTERM it could not connect
                        await client.list_tools()
                        done = await client.call_tool("consensus", {"question": "q", "experts": ["beta", "gamma"]},
                                                      progress_callback=on_progress)
                        assert not done.is_error, done.content
                        mcp_result.append(DebateResult.model_validate(done.structured_content))
                except Exception:  # closing the session after the server has gone cannot reach it
                    if not mcp_result:
                        raise

        mcp_thread = threading.Thread(target=anyio.run, args=(consensus_over_mcp,), daemon=True)
        mcp_thread.start()
        assert routed.wait(WAIT_S), server.log[-3000:]
        # four streams on one model: one runs, three wait in its admission lane (each takes ~2 s)
        outcomes = [StreamOutcome() for _ in range(4)]
        threads = [_stream(server, "alpha", f"question number {i} about alpha", o) for i, o in enumerate(outcomes)]
        assert _lane_has_waiting(server, at_least=3, requests=4), "the four streams arrived; three are queued"
        assert not any(o.ended.is_set() for o in outcomes)
        server.process.send_signal(signal.SIGTERM)
        _refused_after_stop(server)  # new work is refused (it asserts how)
        for thread in [*threads, mcp_thread]:
            thread.join(WAIT_S)
        code = server.process.wait(EXIT_S)
    finally:
        server.stop()
    for outcome in outcomes:
        assert outcome.status == 200 and outcome.finished and outcome.done and not outcome.error, outcome
        assert outcome.chunks >= 5, "every stream ran to its end"
    assert mcp_result and mcp_result[0].answer, f"the MCP call in flight finished\n{server.log[-4000:]}"
    assert code == 0, server.log[-3000:]
    assert "stopping: 4 requests in flight" in server.log, server.log[-3000:]
    assert "models still loaded: none; 0 worker threads stuck" in server.log, server.log[-3000:]


@pytest.mark.fault(simulated="scripted engine paced at 400 ms a token; the server, signal and clients are real",
                   fault="SIGTERM with work longer than the drain",
                   kept="cut cleanly with an error the client can read; exit 0")
def test_sigterm_cancels_work_that_outlasts_the_drain_and_still_exits_0(tmp_path: Path, record: Record) -> None:
    server = start_fake_server(tmp_path / "home", pace_ms=400, drain_s=1)
    try:
        running = StreamOutcome()
        stream_thread = _stream(server, "alpha", "a slow question about alpha that takes many words", running)
        assert running.first_chunk.wait(WAIT_S), server.log[-3000:]
        queued: list[httpx.Response] = []
        queued_thread = threading.Thread(target=lambda: queued.append(httpx.post(
            f"{server.base_url}/v1/chat/completions", timeout=WAIT_S,
            json={"model": "beta", "messages": [{"role": "user", "content": "waiting in line"}]})), daemon=True)
        queued_thread.start()
        assert _lane_has_waiting(server, at_least=1), "the second request is queued behind the first"
        server.process.send_signal(signal.SIGTERM)
        stream_thread.join(WAIT_S)
        queued_thread.join(WAIT_S)
        code = server.process.wait(EXIT_S)
    finally:
        server.stop()
    assert running.status == 200 and not running.finished, "the slow stream was cut at the drain's end"
    assert running.error.get("code") == "cancelled", running
    assert str(running.error.get("message")).endswith("was cancelled: the server is shutting down"), running
    assert queued and queued[0].status_code == 503, queued
    error = queued[0].json()["error"]
    assert error["code"] == "cancelled" and error["message"].endswith("the server is shutting down"), error
    assert code == 0, server.log[-3000:]
    assert "shutdown: cancelled" in server.log and "0 worker threads stuck" in server.log, server.log[-3000:]


def _lane_has_waiting(server: ServerProcess, *, at_least: int, requests: int = 0) -> bool:
    """Whether requests wait in the smollm2 lane and `requests` HTTP requests run, asked until LANE_DEADLINE_S.

    The MCP call can hold the lane too, so "3 waiting" alone does not prove that all four streams arrived.
    """
    deadline = time.monotonic() + LANE_DEADLINE_S
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        while time.monotonic() < deadline:  # each answer is a round trip to the server: no idle spinning
            status = client.get("/v1/livemind/status").json()
            if status["running_requests"] >= requests and any(
                    lane["model"] == "smollm2-135m" and lane["waiting"] >= at_least for lane in status["queues"]):
                return True
    return False
