"""`livemind serve` as users meet it: a real server process on 127.0.0.1, real models, real clients.

Every test here talks to a process started with `python -m livemind.cli.main serve` over
an isolated LIVEMIND_HOME whose `models` link to the pulled models. Waits are bounded: start-up
is followed through the server's own log lines (no polling), requests carry timeouts. Real
generations stay short (max_tokens <= 48): CI machines have two cores.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from mcp import Client
from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import ServerProcess, clean_env, free_port, sse_events, start

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
STARTUP_S = 240.0
REQUEST_S = 300.0
EXIT_S = 90.0
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


# -- the server process ---------------------------------------------------------------------

STARTING: dict[str, httpx.Response] = {}
"""What /health answered, per server, while it was still starting."""


def start_server(home: Path, *, api_key: str | None = None, config: Path | None = None) -> ServerProcess:
    """Start `livemind serve` and return once it reports ready; /health is asked once meanwhile."""
    port = free_port()
    env = clean_env(LIVEMIND_HOME=str(home))
    if api_key:
        env["LIVEMIND_API_KEY"] = api_key
    if config:
        env["LIVEMIND_CONFIG"] = str(config)

    def ask_health(server: ServerProcess) -> None:
        STARTING[server.base_url] = httpx.get(f"{server.base_url}/health", timeout=30)

    return start([sys.executable, "-m", "livemind.cli.main", "serve", "--port", str(port)], env, port,
                 startup_s=STARTUP_S, while_starting=ask_health)


def client(server: ServerProcess, api_key: str = "unused", **options: object) -> openai.OpenAI:
    """The official openai client for this server."""
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=api_key, max_retries=0, timeout=REQUEST_S,
                         **options)  # type: ignore[arg-type]


def _home(root: Path, models_home: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "models").symlink_to(models_home / "models", target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, models_home: Path) -> Iterator[ServerProcess]:
    """One server without auth, shared by this module's tests."""
    running = start_server(_home(tmp_path_factory.mktemp("http") / "home", models_home))
    yield running
    assert running.stop() == 0, running.log[-3000:]


# -- helpers --------------------------------------------------------------------------------

def scrape(server: ServerProcess) -> Samples:
    """Every sample /metrics exposes, keyed by name and labels."""
    response = httpx.get(f"{server.base_url}/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def chat(model: str, content: str, **fields: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **fields}


# -- start-up -------------------------------------------------------------------------------

def test_health_is_503_while_starting_and_200_once_ready(server: ServerProcess) -> None:
    starting = STARTING.get(server.base_url)
    assert starting is not None, "the router warmed up before /health could be asked"
    assert starting.status_code == 503 and starting.json()["status"] == "starting"
    assert int(starting.headers["retry-after"]) >= 1
    ready = httpx.get(f"{server.base_url}/health", timeout=30)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


# -- the OpenAI client ----------------------------------------------------------------------

def test_openai_client_streams_an_expert_answer_while_it_is_generated(server: ServerProcess) -> None:
    stream = client(server).chat.completions.create(
        model="generalist", messages=[{"role": "user", "content": "Name the seven colours of the rainbow."}],
        max_tokens=40, stream=True)
    arrivals: list[float] = []
    pieces: list[str] = []
    final = None
    for chunk in stream:
        choice = chunk.choices[0]
        if choice.delta.content:
            arrivals.append(time.perf_counter())
            pieces.append(choice.delta.content)
        if choice.finish_reason:
            final = chunk
    assert final is not None and final.choices[0].finish_reason in ("stop", "length")
    extra = final.model_extra["livemind"]
    assert extra["expert"] == "generalist" and extra["model"] == "smollm2-135m"
    assert len(pieces) >= 3 and "".join(pieces).strip()
    # chunks are spread over the decode time the engine reports, not delivered in one burst at the end
    decode_s = (extra["tokens"] - 1) / extra["tok_s"]
    assert arrivals[-1] - arrivals[0] >= 0.5 * decode_s, (arrivals[-1] - arrivals[0], decode_s)


def test_openai_client_gets_a_complete_answer_from_an_expert(server: ServerProcess) -> None:
    completion = client(server).chat.completions.create(
        model="mathematician", messages=[{"role": "user", "content": "What is 12 plus 30?"}], max_tokens=24)
    assert completion.model == "mathematician"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content and completion.choices[0].message.content.strip()
    assert completion.usage is not None and 0 < completion.usage.completion_tokens <= 24
    extra = completion.model_extra["livemind"]
    assert extra["expert"] == "mathematician" and extra["ttft_s"] > 0


def test_livemind_auto_routes_to_one_expert_and_says_why(server: ServerProcess) -> None:
    completion = client(server).chat.completions.create(
        model="livemind-auto", messages=[{"role": "user", "content": "Write a Python function that reverses a list."}],
        max_tokens=24)
    extra = completion.model_extra["livemind"]
    routing = extra["routing"]
    assert extra["expert"] == routing["selected"][0]
    assert routing["reason"] and len(routing["scores"]) == 5
    assert completion.choices[0].message.content


def test_openai_client_gets_a_consensus_answer_with_agreement_and_positions(server: ServerProcess) -> None:
    completion = client(server).chat.completions.create(
        model="livemind-consensus", messages=[{"role": "user", "content": "Is it healthy to drink water every day?"}],
        max_tokens=24, extra_body={"livemind": {"experts": ["generalist", "ethicist"]}})
    assert completion.choices[0].message.content and completion.choices[0].message.content.strip()
    extra = completion.model_extra["livemind"]
    assert extra["kind"] == "consensus" and extra["rounds"] == 0
    assert {p["expert"] for p in extra["positions"]} == {"generalist", "ethicist"}
    assert -1.0 <= extra["agreement"] <= 1.0
    assert extra["routing"]["selected"] == ["generalist", "ethicist"]
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_openai_client_streams_a_routed_consensus_with_progress_before_the_answer(server: ServerProcess) -> None:
    stream = client(server).chat.completions.create(
        model="livemind-consensus", messages=[{"role": "user", "content": "Will robots take most jobs by 2045?"}],
        max_tokens=20, stream=True)
    progress: list[tuple[str, float]] = []
    route: dict[str, object] = {}
    pieces: list[str] = []
    final = None
    for chunk in stream:
        choice = chunk.choices[0]
        extra = (chunk.model_extra or {}).get("livemind")
        if choice.finish_reason:
            final = (chunk, time.perf_counter())
        elif extra:
            progress.append((extra["event"], time.perf_counter()))
            route = route or extra
        if choice.delta.content:
            pieces.append(choice.delta.content)
    assert final is not None
    result = final[0].model_extra["livemind"]
    assert progress[0][0] == "route" and "round_done" in [kind for kind, _ in progress]
    assert "".join(pieces).strip()
    assert len(result["positions"]) >= 1 and "agreement" in result
    assert route["reason"] == result["mode_reason"] and not str(route["reason"]).startswith("experts chosen")
    assert route["selected"] == result["routing"]["selected"]
    # the route chunk left the server long before the council finished
    assert final[1] - progress[0][1] >= 0.5 * result["total_s"], (final[1] - progress[0][1], result["total_s"])


# -- native council streams -----------------------------------------------------------------

def test_debate_endpoint_streams_tokens_rounds_agreement_and_the_result(server: ServerProcess) -> None:
    body = {"question": "Should homework be banned?", "experts": ["generalist", "ethicist"], "rounds": 1,
            "max_tokens": 16}
    with httpx.stream("POST", f"{server.base_url}/v1/livemind/debate", json=body, timeout=REQUEST_S) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(sse_events(response.iter_lines()))
    kinds = [name for name, _ in events]
    assert kinds[0] == "route" and kinds[-1] == "result"
    token_experts = {data["expert"] for name, data in events if name == "token"}
    assert {"generalist", "ethicist"} <= token_experts
    rounds = [data for name, data in events if name == "round_done"]
    assert rounds and all(-1.0 <= float(r["data"]["agreement"]) <= 1.0 for r in rounds)  # type: ignore[index]
    assert kinds.index("token") < kinds.index("round_done"), "tokens arrive before the round closes"
    result = events[-1][1]
    assert result["answer"] and result["routing"]["selected"] == ["generalist", "ethicist"]  # type: ignore[index]


def test_consensus_endpoint_without_stream_returns_the_result(server: ServerProcess) -> None:
    response = httpx.post(f"{server.base_url}/v1/livemind/consensus", timeout=REQUEST_S,
                          json={"question": "Name a prime number.", "experts": ["mathematician", "generalist"],
                                "max_tokens": 12, "stream": False})
    assert response.status_code == 200
    result = response.json()
    assert result["answer"] and len(result["positions"]) == 2 and result["rounds"] == 0


# -- admission, disconnects, limits ---------------------------------------------------------

def test_many_simultaneous_requests_each_complete_or_get_429_and_the_server_stays_healthy(
        server: ServerProcess) -> None:
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=REQUEST_S) as client:
            calls = [client.post("/v1/chat/completions", json=chat("coder", f"Say the number {i}.", max_tokens=8))
                     for i in range(20)]
            return await asyncio.wait_for(asyncio.gather(*calls), REQUEST_S)

    responses = asyncio.run(burst())
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 429}, statuses
    done = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert done and refused, statuses  # 1 running + 8 waiting fit; the rest are told to come back
    for r in done:
        assert r.json()["choices"][0]["message"]["content"] is not None
    for r in refused:
        assert int(r.headers["retry-after"]) >= 1
        error = r.json()["error"]
        assert error["code"] == "queue_full" and "queue for model 'smollm2-135m' is full" in error["message"]
        assert error["type"] == "rate_limit_error" and error["hint"].startswith("retry after")
    assert httpx.get(f"{server.base_url}/health", timeout=30).status_code == 200
    after = client(server).chat.completions.create(model="coder", messages=[{"role": "user", "content": "Hi"}],
                                                    max_tokens=4)
    assert after.choices[0].message.content is not None


def test_a_client_disconnecting_mid_stream_stops_the_generation(server: ServerProcess) -> None:
    before = scrape(server)
    request = chat("generalist", "Count from 1 to 100, separated by commas.", max_tokens=48, stream=True)
    with httpx.stream("POST", f"{server.base_url}/v1/chat/completions", json=request, timeout=REQUEST_S) as response:
        assert response.status_code == 200
        received = 0
        for _, data in sse_events(response.iter_lines()):
            choices = data.get("choices") or [{}]
            if choices[0].get("delta", {}).get("content"):  # type: ignore[union-attr]
                received += 1
            if received == 2:
                break  # leaving the block closes the connection mid-stream
    # Same model, same FIFO lane: this request runs only once the abandoned one has ended and
    # been counted, so no waiting or polling is needed before reading the metrics.
    follow_up = httpx.post(f"{server.base_url}/v1/chat/completions", json=chat("generalist", "Hi", max_tokens=1),
                           timeout=REQUEST_S)
    assert follow_up.status_code == 200
    after = scrape(server)
    cancelled = (sample(after, "livemind_requests_total", endpoint="chat.completions", model="generalist",
                        outcome="cancelled")
                 - sample(before, "livemind_requests_total", endpoint="chat.completions", model="generalist",
                          outcome="cancelled"))
    assert cancelled == 1
    tokens = (sample(after, "livemind_generated_tokens_total", model="generalist", outcome="cancelled")
              - sample(before, "livemind_generated_tokens_total", model="generalist", outcome="cancelled"))
    assert 2 <= tokens < 48, f"{tokens} tokens were generated for a client that left after 2"
    # counted by the engine as it decodes: the step in progress when the cancel came, which holds
    # one token or, with prompt-lookup drafting, one token and its kept guesses (at most 2)
    late = (sample(after, "livemind_tokens_after_cancel_sum", model="generalist")
            - sample(before, "livemind_tokens_after_cancel_sum", model="generalist"))
    assert late <= 3, f"the engine decoded {late} tokens after the disconnect was noticed"
    status = httpx.get(f"{server.base_url}/v1/livemind/status", timeout=30).json()
    assert not any(m["is_generating"] for m in status["pool"]["loaded"])


@pytest.mark.parametrize("stream", [False, True])
def test_a_prompt_longer_than_the_context_window_gets_413_naming_the_limit(server: ServerProcess,
                                                                           stream: bool) -> None:
    words = " ".join(["word"] * 2600)  # under the character limit, over 2048 tokens
    response = httpx.post(f"{server.base_url}/v1/chat/completions", timeout=REQUEST_S,
                          json=chat("generalist", words, max_tokens=8, stream=stream))
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "prompt_too_long" and "over the limit of 2047" in error["message"]


# -- metrics, MCP ---------------------------------------------------------------------------

def test_metrics_count_the_requests_served_and_show_the_pool(server: ServerProcess) -> None:
    before = scrape(server)
    client(server).chat.completions.create(model="coder", messages=[{"role": "user", "content": "Say hi."}],
                                            max_tokens=6)
    after = scrape(server)
    served = ("livemind_requests_total", {"endpoint": "chat.completions", "model": "coder", "outcome": "ok"})
    assert sample(after, served[0], **served[1]) - sample(before, served[0], **served[1]) == 1
    http_ok = {"method": "POST", "path": "/v1/chat/completions", "status": "200"}
    assert (sample(after, "livemind_http_requests_total", **http_ok)
            - sample(before, "livemind_http_requests_total", **http_ok)) == 1
    assert (sample(after, "livemind_time_to_first_token_seconds_count", model="coder")
            - sample(before, "livemind_time_to_first_token_seconds_count", model="coder")) == 1
    assert sample(after, "livemind_tokens_per_second_count", model="coder") >= 1
    assert sample(after, "livemind_models_loaded") >= 1
    assert sample(after, "livemind_model_bytes", model="smollm2-135m") > 0
    assert 0 < sample(after, "livemind_ram_used_bytes") < sample(after, "livemind_ram_total_bytes")
    assert sample(after, "livemind_ram_limit_bytes") > 0
    assert sample(after, "livemind_queue_capacity", model="smollm2-135m") == 9
    assert ("livemind_pool_evictions_total", frozenset()) in after
    assert ("livemind_pool_refusals_total", frozenset()) in after
    assert sample(after, "livemind_ready") == 1


def test_mcp_is_served_at_slash_mcp_by_the_same_process(server: ServerProcess) -> None:
    async def tools() -> list[str]:
        async with Client(f"{server.base_url}/mcp") as client:
            return [tool.name for tool in (await client.list_tools()).tools]

    names = asyncio.run(asyncio.wait_for(tools(), 60))
    assert {"ask", "consensus", "debate", "status"} <= set(names)


# Auth, 4xx, listings and unknown models need no model: tests/http/test_http_inprocess.py.


# -- shutdown -------------------------------------------------------------------------------

@pytest.mark.fault(fault="SIGTERM on `livemind serve` with a real stream in flight", simulated="",
                   kept="the stream runs to its end; exit 0; models unloaded")
def test_sigterm_drains_the_running_stream_unloads_models_and_exits_cleanly(tmp_path: Path,
                                                                             models_home: Path) -> None:
    running = start_server(_home(tmp_path / "home", models_home))
    try:
        request = chat("generalist", "List five animals.", max_tokens=32, stream=True)
        with httpx.stream("POST", f"{running.base_url}/v1/chat/completions", json=request,
                          timeout=REQUEST_S) as response:
            assert response.status_code == 200
            events = sse_events(response.iter_lines())
            first = next(events)
            assert first[1]["choices"][0]["delta"]["role"] == "assistant"  # type: ignore[index]
            running.process.send_signal(signal.SIGTERM)
            rest = list(events)
        finish = [d for _, d in rest if d.get("choices") and d["choices"][0].get("finish_reason")]  # type: ignore[index]
        assert finish and rest[-1][1] == {"done": True}, "the stream in flight ran to its end"
        assert running.process.wait(EXIT_S) == 0, running.log[-3000:]
    finally:
        running.stop()
    assert "stopping: 1 requests in flight" in running.log
    assert "models still loaded: none" in running.log, running.log[-3000:]


def test_an_idle_model_unloads_under_serve_after_its_ttl(tmp_path: Path, models_home: Path) -> None:
    shipped = (REPO / "livemind" / "councils" / "tiny.toml").read_text()
    assert "idle_ttl_s = 300" in shipped
    config = tmp_path / "short-ttl.toml"
    config.write_text(shipped.replace("idle_ttl_s = 300", "idle_ttl_s = 2"))
    running = start_server(_home(tmp_path / "home", models_home), config=config)
    try:
        answer = client(running).chat.completions.create(
            model="generalist", messages=[{"role": "user", "content": "Name a colour."}], max_tokens=8)
        assert answer.choices[0].message.content
        loaded_after = [m["model"] for m in httpx.get(f"{running.base_url}/v1/livemind/status", timeout=30)
                        .json()["pool"]["loaded"]]
        deadline = time.monotonic() + 30  # the reaper looks every ttl/4; nothing touches the pool meanwhile
        loaded: list[object] = loaded_after
        while loaded and time.monotonic() < deadline:
            time.sleep(0.25)
            loaded = httpx.get(f"{running.base_url}/v1/livemind/status", timeout=30).json()["pool"]["loaded"]
    finally:
        assert running.stop() == 0, running.log[-3000:]
    assert loaded_after == ["smollm2-135m"], "the answer loaded the generalist's model"
    assert loaded == [], f"still loaded {running.log[-2000:]}"


def test_a_streamed_answer_accounts_for_its_time_to_first_token_stage_by_stage(server: ServerProcess) -> None:
    started = time.perf_counter()
    first = None
    last: dict[str, object] = {}
    with httpx.stream("POST", f"{server.base_url}/v1/chat/completions", timeout=REQUEST_S,
                      json=chat("generalist", "Name three rivers.", max_tokens=8, stream=True)) as response:
        for _, data in sse_events(response.iter_lines()):
            choices = data.get("choices") or [{}]
            if first is None and (choices[0].get("delta") or {}).get("content"):  # type: ignore[union-attr, index]
                first = time.perf_counter() - started
            if data.get("livemind"):
                last = data["livemind"]  # type: ignore[assignment]
    stages = last["stages"]
    assert isinstance(stages, dict)
    before_first_token = ("parse_and_route", "admission", "handoff", "queue", "template", "prefill")
    assert set(before_first_token) <= set(stages) and "sse" in stages, stages
    assert all(seconds >= 0 for seconds in stages.values()) and stages["prefill"] > 0
    assert first is not None and sum(stages[s] for s in before_first_token) <= first, \
        "the server's stages fit inside the time to first token the client saw"
