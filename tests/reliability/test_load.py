"""Load on loopback: HTTP and MCP together, bounded in count and time, memory sampled throughout.

The claims are about the server, so the CI runs drive the product's HTTP server over scripted
backends (tests/reliability/fake_server.py: 2 ms a word, 100 MiB "models", a 250 MiB budget,
4-6 places per admission lane so that 8-16 concurrent clients also meet refusals):

- no 5xx other than 429 or 503, and those carry Retry-After (clients come back when it says,
  up to four attempts, as well-behaved clients do);
- every accepted request completes (a whole JSON body, or a stream that ends properly);
- the pool never holds more than the budget, sampled every 250 ms;
- RSS grows by less than a stated bound once warm.

A small run on the real models (the `fault_server`) checks the same with llama.cpp underneath.
Soak versions (`-m soak`) run a few hundred requests each.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from tests.support.recording import Record
from tests.support.servers import MiB, RssSampler, ServerProcess, percentile, start_fake_server, start_livemind_serve

REQUEST_S = 300.0
RETRY_STATUSES = {429, 503}
MCP_BUSY_RETRIES = 20
MAX_ATTEMPTS = 4
# Once warm (first requests served, lanes and sessions created), the fake server's RSS may grow
# this much over a CI run and over a soak; more means something is kept per request.
CI_RSS_GROWTH_BOUND = 48 * MiB
SOAK_RSS_DRIFT_BOUND = 32 * MiB
REAL_RSS_GROWTH_BOUND = 96 * MiB


@dataclass
class Outcome:
    """One request: what came back, whether it was whole, how long it took."""

    kind: str
    status: int
    seconds: float
    is_complete: bool = False
    has_retry_after: bool = False
    detail: str = ""


@dataclass
class LoadReport:
    """Every outcome of one run, with the memory samples."""

    http: list[Outcome] = field(default_factory=list)
    mcp: list[Outcome] = field(default_factory=list)
    clients: int = 0
    gave_up: int = 0

    @property
    def statuses(self) -> Counter[int]:
        return Counter(o.status for o in self.http)

    @property
    def served(self) -> list[Outcome]:
        return [o for o in [*self.http, *self.mcp] if o.status == 200]

    def latency_ms(self, q: float) -> float:
        return round(1000 * percentile([o.seconds for o in self.served], q), 1)

    def problems(self) -> list[Outcome]:
        """Anything a client could not rely on: a bad status, a missing Retry-After, a cut-off body."""
        return [o for o in [*self.http, *self.mcp] if not _is_acceptable(o)]


def _is_acceptable(outcome: Outcome) -> bool:
    if outcome.status == 200:
        return outcome.is_complete
    return outcome.status in RETRY_STATUSES and outcome.has_retry_after


def _body(index: int, experts: tuple[str, str, str]) -> tuple[str, str, dict[str, object], bool]:
    """The index-th request of the mix: (kind, path, body, streams)."""
    first, second, third = experts
    question = f"load question {index}: what is worth knowing about {first} and {third}?"
    chat = {"messages": [{"role": "user", "content": question}], "max_tokens": 12}
    match index % 6:
        case 0:
            return "expert", "/v1/chat/completions", {**chat, "model": first}, False
        case 1:
            return "expert-stream", "/v1/chat/completions", {**chat, "model": second, "stream": True}, True
        case 2:
            return "auto", "/v1/chat/completions", {**chat, "model": "livemind-auto"}, False
        case 3:
            return "consensus-stream", "/v1/livemind/consensus", {
                "question": question, "experts": [first, third], "max_tokens": 12, "stream": True}, True
        case 4:
            return "expert", "/v1/chat/completions", {**chat, "model": third}, False
        case _:
            return "consensus", "/v1/chat/completions", {
                **chat, "model": "livemind-consensus", "livemind": {"experts": [first, second]}}, False


def _is_whole(kind: str, streams: bool, payload: str) -> bool:
    if not streams:
        data = json.loads(payload)
        return bool(data["choices"][0]["message"]["content"] is not None and data["choices"][0]["finish_reason"])
    events = [block for block in payload.split("\n\n") if block.strip()]
    if kind == "consensus-stream":  # LiveMind's council stream ends with its result event
        return bool(events) and events[-1].startswith("event: result") and '"answer"' in events[-1]
    finished = any('"finish_reason":"stop"' in e or '"finish_reason":"length"' in e for e in events)
    return finished and events[-1] == "data: [DONE]" and not any('"error"' in e for e in events)


async def _http_request(client: httpx.AsyncClient, index: int, experts: tuple[str, str, str]) -> list[Outcome]:
    """One client's request, retried as the server says (Retry-After) up to MAX_ATTEMPTS times."""
    kind, path, body, streams = _body(index, experts)
    attempts = []
    for _ in range(MAX_ATTEMPTS):
        started = time.perf_counter()
        async with client.stream("POST", path, json=body) as response:
            payload = (await response.aread()).decode()
        retry_after = int(response.headers.get("retry-after", "0"))
        outcome = Outcome(kind, response.status_code, time.perf_counter() - started, has_retry_after=retry_after >= 1,
                          detail=payload[:300])
        if response.status_code == 200:
            outcome.is_complete = _is_whole(kind, streams, payload)
        attempts.append(outcome)
        if response.status_code not in RETRY_STATUSES or retry_after < 1:
            break
        await asyncio.sleep(retry_after)  # the client does what the server told it: come back after Retry-After
    return attempts


async def _mcp_session(base_url: str, calls: int, experts: tuple[str, str, str], offset: int) -> list[Outcome]:
    outcomes = []
    first, _, third = experts
    async with Client(f"{base_url}/mcp") as client:
        await client.list_tools()
        for i in range(calls):
            mix: list[tuple[str, dict[str, Any]]] = [
                ("ask", {"question": f"mcp question {offset + i}", "expert": first, "max_tokens": 12}),
                ("route", {"question": f"mcp route {offset + i} about {third}"}),
                ("consensus", {"question": f"mcp consensus {offset + i}", "experts": [first, third], "max_tokens": 12}),
                ("status", {}),
            ]
            tool, arguments = mix[i % 4]
            started = time.perf_counter()
            for _ in range(MCP_BUSY_RETRIES):  # inside `livemind serve` MCP calls queue in HTTP's lanes
                result = await client.call_tool(tool, arguments)
                text = " ".join(getattr(block, "text", "") for block in result.content)
                is_busy = bool(result.is_error) and "is full" in text  # MCP's 429: retry as told
                if not is_busy:
                    break
                await anyio.sleep(0.5)
            status = 200 if not result.is_error else 429 if is_busy else 500
            outcomes.append(Outcome(f"mcp-{tool}", status, time.perf_counter() - started,
                                    is_complete=not result.is_error and result.structured_content is not None,
                                    has_retry_after=is_busy and "retry after" in text, detail=text[:300]))
    return outcomes


def run_load(server: ServerProcess, *, requests: int, concurrency: int, mcp_sessions: int, mcp_calls: int,
             experts: tuple[str, str, str], deadline_s: float, offset: int = 0) -> LoadReport:
    """Drive HTTP at `concurrency` and MCP sessions at the same time; bounded by deadline_s."""
    report = LoadReport()

    async def main() -> None:
        gate = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency)

        async with httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_S, limits=limits) as client:
            async def one(index: int) -> None:
                async with gate:
                    attempts = await _http_request(client, index, experts)
                report.http.extend(attempts)
                report.clients += 1
                report.gave_up += attempts[-1].status != 200

            async def all_mcp() -> None:
                sessions = [_mcp_session(server.base_url, mcp_calls, experts, offset + 1000 * s)
                            for s in range(mcp_sessions)]
                for outcomes in await asyncio.gather(*sessions):
                    report.mcp.extend(outcomes)

            with anyio.fail_after(deadline_s):
                await asyncio.gather(all_mcp(), *(one(offset + i) for i in range(requests)))

    anyio.run(main)
    return report


def _figures(report: LoadReport, sampler: RssSampler, *, baseline_rss: int, concurrency: int) -> dict[str, object]:
    quarter = sampler.samples[len(sampler.samples) // 4].rss  # once the run has settled in
    return {
        "http_clients": report.clients, "http_attempts": len(report.http), "mcp_calls": len(report.mcp),
        "http_served": sum(1 for o in report.http if o.status == 200),
        "mcp_served": sum(1 for o in report.mcp if o.status == 200),
        "clients_gave_up": report.gave_up, "concurrency": concurrency,
        "refused_429": report.statuses[429], "refused_503": report.statuses[503],
        "refused_with_retry_after": sum(1 for o in report.http if o.status in RETRY_STATUSES and o.has_retry_after),
        "mcp_busy": sum(1 for o in report.mcp if o.status == 429),
        "mcp_busy_with_retry_after": sum(1 for o in report.mcp if o.status == 429 and o.has_retry_after),
        "errors": sum(1 for o in [*report.http, *report.mcp] if o.status not in (200, *RETRY_STATUSES)),
        "p50_ms": report.latency_ms(50), "p99_ms": report.latency_ms(99),
        "rss_baseline_mib": round(baseline_rss / MiB, 1), "rss_end_mib": round(sampler.samples[-1].rss / MiB, 1),
        "rss_peak_mib": round(sampler.peak_rss / MiB, 1),
        "rss_peak_above_baseline_mib": round((sampler.peak_rss - baseline_rss) / MiB, 1),
        "rss_growth_mib": round((sampler.samples[-1].rss - baseline_rss) / MiB, 1),
        "rss_drift_after_first_quarter_mib": round((sampler.samples[-1].rss - quarter) / MiB, 1),
        "pool_peak_mib": round(sampler.peak_pool_bytes / MiB, 1),
        "budget_mib": round((sampler.samples[-1].budget_bytes or 0) / MiB, 1),
        "incomplete": sum(1 for o in report.served if not o.is_complete), "samples": len(sampler.samples),
    }


def _assert_held(report: LoadReport, sampler: RssSampler) -> None:
    problems = report.problems()
    assert not problems, problems[:5]
    assert report.served, "nothing was served"
    budget = sampler.samples[-1].budget_bytes
    assert budget is not None and sampler.peak_pool_bytes <= budget, (sampler.peak_pool_bytes, budget)
    assert all(o.status == 200 for o in report.mcp), [o for o in report.mcp if o.status != 200][:3]


FAKE_EXPERTS = ("alpha", "beta", "gamma")


@pytest.mark.slow
def test_http_and_mcp_together_serve_every_accepted_request_within_budget_and_without_leaking(
        tmp_path: Path, record: Record) -> None:
    server = start_fake_server(tmp_path / "home", pace_ms=2, max_queue=6)
    try:
        run_load(server, requests=16, concurrency=8, mcp_sessions=1, mcp_calls=4, experts=FAKE_EXPERTS,
                 deadline_s=REQUEST_S)  # warm-up: lanes, sessions, caches
        with RssSampler(server) as sampler:
            baseline = sampler.samples[0].rss
            report = run_load(server, requests=80, concurrency=8, mcp_sessions=2, mcp_calls=10,
                              experts=FAKE_EXPERTS, deadline_s=REQUEST_S, offset=100)
        alive = httpx.get(f"{server.base_url}/health", timeout=30).status_code
    finally:
        assert server.stop() == 0, server.log[-3000:]
    record(kind="load", run="ci-fake", **_figures(report, sampler, baseline_rss=baseline, concurrency=8))
    _assert_held(report, sampler)
    assert alive == 200
    growth = sampler.samples[-1].rss - baseline
    assert growth <= CI_RSS_GROWTH_BOUND, f"RSS grew {growth / MiB:.1f} MiB over {len(report.http)} requests"


@pytest.mark.slow
def test_real_models_under_load_stay_within_the_budget(fault_server: ServerProcess, record: Record) -> None:
    experts = ("generalist", "coder", "coder")
    run_load(fault_server, requests=2, concurrency=2, mcp_sessions=0, mcp_calls=0, experts=experts,
             deadline_s=REQUEST_S)  # SmolLM2 loaded, first requests served
    with RssSampler(fault_server) as sampler:
        baseline = sampler.samples[0].rss
        report = run_load(fault_server, requests=12, concurrency=4, mcp_sessions=1, mcp_calls=4, experts=experts,
                          deadline_s=2 * REQUEST_S, offset=200)
    idle = fault_server.idle_rss
    record(kind="load", run="ci-real", rss_idle_mib=round(idle / MiB, 1),
           rss_peak_above_idle_mib=round((sampler.peak_rss - idle) / MiB, 1),
           **_figures(report, sampler, baseline_rss=baseline, concurrency=4))
    _assert_held(report, sampler)
    growth = sampler.samples[-1].rss - baseline
    assert growth <= REAL_RSS_GROWTH_BOUND, f"RSS grew {growth / MiB:.1f} MiB over {len(report.http)} requests"
    budget = sampler.samples[-1].budget_bytes or 0
    assert sampler.peak_rss - idle <= budget, (
        f"measured RSS rose {(sampler.peak_rss - idle) / MiB:.1f} MiB above the idle server, over the budget")


@pytest.mark.slow
def test_real_models_taking_turns_press_the_budget_and_measured_rss_stays_under_it(
        tmp_path: Path, models_home: Path, fault_budget: dict[str, int], record: Record) -> None:
    # A budget that holds SmolLM2 or Gemma 3 270M but not both: a mix of their experts makes the pool
    # evict one for the other, so the budget is pressed, and the server's real RSS is read against it.
    one, both = max(fault_budget["smollm2-135m"], fault_budget["gemma3-270m"]), sum(
        fault_budget[name] for name in ("smollm2-135m", "gemma3-270m"))
    budget_mib = int(one * 1.1 / MiB) + 1
    assert budget_mib * MiB < both, "the budget must not hold both models"
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(models_home / "models", target_is_directory=True)
    server = start_livemind_serve(home, ram_budget=f"{budget_mib}MiB")
    experts = ("generalist", "futurist", "coder")  # SmolLM2, Gemma 3 270M, SmolLM2
    try:
        with RssSampler(server) as sampler:
            idle = sampler.samples[0].rss
            report = run_load(server, requests=12, concurrency=4, mcp_sessions=0, mcp_calls=0, experts=experts,
                              deadline_s=2 * REQUEST_S)
    finally:
        assert server.stop() == 0, server.log[-3000:]
    record(kind="load", run="ci-real-pressed", evictions=sampler.samples[-1].evictions,
           **_figures(report, sampler, baseline_rss=idle, concurrency=4))
    _assert_held(report, sampler)
    assert sampler.samples[-1].evictions >= 1, "the mix made the pool evict: the budget was pressed"
    above_idle = sampler.peak_rss - idle
    assert above_idle <= budget_mib * MiB, (
        f"measured RSS rose {above_idle / MiB:.1f} MiB above the idle server, over the {budget_mib} MiB budget")


@pytest.mark.soak
def test_soak_http_and_mcp_for_hundreds_of_requests_without_rss_drift(tmp_path: Path, record: Record) -> None:
    server = start_fake_server(tmp_path / "home", pace_ms=2, max_queue=4)
    try:
        run_load(server, requests=100, concurrency=16, mcp_sessions=2, mcp_calls=8, experts=FAKE_EXPERTS,
                 deadline_s=4 * REQUEST_S)
        with RssSampler(server) as sampler:
            baseline = sampler.samples[0].rss
            reports = [run_load(server, requests=200, concurrency=16, mcp_sessions=2, mcp_calls=20,
                                experts=FAKE_EXPERTS, deadline_s=4 * REQUEST_S, offset=1000 * (k + 1))
                       for k in range(3)]
        alive = httpx.get(f"{server.base_url}/health", timeout=30).status_code
    finally:
        assert server.stop() == 0, server.log[-3000:]
    report = LoadReport(http=[o for r in reports for o in r.http], mcp=[o for r in reports for o in r.mcp],
                        clients=sum(r.clients for r in reports), gave_up=sum(r.gave_up for r in reports))
    record(kind="load", run="soak-fake", **_figures(report, sampler, baseline_rss=baseline, concurrency=16))
    _assert_held(report, sampler)
    assert alive == 200
    drift = sampler.samples[-1].rss - baseline
    assert drift <= SOAK_RSS_DRIFT_BOUND, f"RSS drifted {drift / MiB:.1f} MiB over {len(report.http)} requests"


@pytest.mark.soak
def test_soak_real_models_for_a_hundred_requests_within_the_budget(
        tmp_path: Path, models_home: Path, record: Record) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(models_home / "models", target_is_directory=True)
    server = start_livemind_serve(home, ram_budget="400MiB")
    experts = ("generalist", "coder", "mathematician")  # one shared SmolLM2
    try:
        with RssSampler(server) as sampler:
            idle = sampler.samples[0].rss
            report = run_load(server, requests=100, concurrency=8, mcp_sessions=1, mcp_calls=12, experts=experts,
                              deadline_s=3600)
    finally:
        assert server.stop() == 0, server.log[-3000:]
    record(kind="load", run="soak-real", **_figures(report, sampler, baseline_rss=idle, concurrency=8))
    _assert_held(report, sampler)
    budget = sampler.samples[-1].budget_bytes or 0
    assert sampler.peak_rss - idle <= budget, "models never took more than the budget above the idle server"
