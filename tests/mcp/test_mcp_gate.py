"""MCP tools inside `livemind serve` pass the server's gate: they queue in HTTP's lanes and count in its metrics."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client

from livemind.mcp.server import create_mcp_server
from livemind.orchestrator import LiveMind
from livemind.server.admission import Admission
from livemind.server.gate import Gate
from livemind.server.metrics import Metrics
from tests.support.fakes import ScriptedLoader
from tests.support.minds import open_scripted, opinionated

MODEL = "smollm2-135m"


class CountingLoader(ScriptedLoader):
    """The opinionated experts, counting every generation request."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        super().__init__(lambda target, request: self.asked.append(target.model) or opinionated(target, request))


@pytest.fixture
def loader() -> CountingLoader:
    return CountingLoader()


@pytest.fixture
def mind(tmp_path: Path, loader: CountingLoader) -> Iterator[LiveMind]:
    opened = open_scripted(tmp_path, loader)
    yield opened
    opened.close()


def _count(metrics: Metrics, endpoint: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value("livemind_requests_total",
                                              {"endpoint": endpoint, "model": _label(endpoint), "outcome": outcome})
    return value or 0.0


def _label(endpoint: str) -> str:
    return "alpha" if endpoint == "mcp_ask" else endpoint.replace("_", "-")


def _call(mind: LiveMind, gate: Gate, tool: str, arguments: dict[str, object]) -> tuple[bool, str]:
    async def call() -> tuple[bool, str]:
        with anyio.fail_after(60):
            async with Client(create_mcp_server(lambda: mind, gate=gate)) as client:
                result = await client.call_tool(tool, arguments)
        return bool(result.is_error), " ".join(getattr(b, "text", "") for b in result.content)

    return anyio.run(call)


def test_mcp_calls_count_in_the_servers_metrics(mind: LiveMind) -> None:
    metrics = Metrics()
    gate = Gate(Admission(max_queue=4, concurrency={MODEL: 1}), metrics)
    assert _call(mind, gate, "ask", {"question": "q", "expert": "alpha", "max_tokens": 8})[0] is False
    assert _call(mind, gate, "debate", {"question": "q", "experts": ["alpha", "beta"], "rounds": 1})[0] is False
    assert _count(metrics, "mcp_ask", "ok") == 1
    assert _count(metrics, "mcp_debate", "ok") == 1
    generated = metrics.registry.get_sample_value("livemind_generated_tokens_total", {"model": "alpha", "outcome": "ok"})
    assert generated and generated > 0


def test_a_full_lane_refuses_an_mcp_call_as_busy(mind: LiveMind, loader: CountingLoader) -> None:
    metrics = Metrics()
    admission = Admission(max_queue=0, concurrency={MODEL: 1})
    held = admission.enter([MODEL])  # an HTTP request is running on the model
    try:
        is_error, text = _call(mind, Gate(admission, metrics), "ask", {"question": "q", "expert": "alpha"})
    finally:
        held.release()
    assert is_error and "queue for model 'smollm2-135m' is full" in text, text
    assert _count(metrics, "mcp_ask", "busy") == 1
    assert not loader.asked, "nothing was generated"


def test_an_mcp_call_waits_its_turn_behind_http_work(mind: LiveMind, loader: CountingLoader) -> None:
    admission = Admission(max_queue=1, concurrency={MODEL: 1})
    held = admission.enter([MODEL])
    outcome: list[tuple[bool, str]] = []
    caller = threading.Thread(target=lambda: outcome.append(
        _call(mind, Gate(admission, Metrics()), "ask", {"question": "q", "expert": "alpha", "max_tokens": 8})))
    caller.start()
    caller.join(timeout=1.0)
    try:
        assert caller.is_alive() and not loader.asked, "queued, not generating"
    finally:
        held.release()
    caller.join(timeout=30)
    assert outcome and outcome[0][0] is False
