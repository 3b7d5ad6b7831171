"""The MCP server on the real default models: in memory, as an HTTP process, and under the MCP Inspector."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from livemind.config import LiveMindConfig
from livemind.council.embeddings import SentenceEmbedder
from livemind.mcp.server import create_mcp_server
from livemind.orchestrator import LiveMind
from livemind.types import Answer, DebateResult
from tests.support.mcp_calls import TOOLS, ProgressLog
from tests.support.servers import LISTENING_LINE, ServerProcess, clean_env, free_port, start

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
API_KEY = "test-key-7f3a"
QUESTION = "What is the capital of France?"
INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"
NPM_CACHE = Path.home() / ".cache" / "livemind" / "npm"
# Start-up imports torch, langgraph and llama.cpp; a shared 2-core CI box can be slow.
START_DEADLINE_S = 120.0
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "livemind-tests", "version": "1"}}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _livemind_command() -> list[str]:
    return [sys.executable, "-m", "livemind.cli.main", "mcp"]


# -- in memory, real models -----------------------------------------------------------------------

async def test_consensus_on_the_default_models_returns_a_structured_answer(
        home: Path, tiny_config: LiveMindConfig, embedder: SentenceEmbedder) -> None:
    mind = LiveMind(tiny_config, home=home, embedder=embedder)
    try:
        async with Client(create_mcp_server(lambda: mind)) as client:
            progress = ProgressLog()
            started = time.perf_counter()
            result = await client.call_tool("consensus", {"question": QUESTION, "max_tokens": 32, "seed": 7},
                                            progress_callback=progress)
            elapsed = time.perf_counter() - started
    finally:
        mind.close()
    assert not result.is_error, result.content
    debate = DebateResult.model_validate(result.structured_content)
    print(f"\nconsensus over MCP: {elapsed:.1f} s wall, {debate.total_s:.1f} s in the graph, "
          f"{len(debate.positions)} experts, {debate.tokens} tokens, agreement {debate.agreement:.2f}")
    assert len(debate.positions) >= 2 and all(p.tokens > 0 for p in debate.positions)
    assert all(p.tokens <= 32 for p in debate.positions), "max_tokens reaches the engine"
    assert debate.answer.strip() and debate.synthesis_error is None
    assert progress.messages[-1] == "synthesis done"
    progress.assert_increasing()


async def test_an_idle_model_unloads_under_mcp_after_its_ttl(home: Path, tiny_config: LiveMindConfig,
                                                           embedder: SentenceEmbedder) -> None:
    config = tiny_config.model_copy(update={"pool": tiny_config.pool.model_copy(update={"idle_ttl_s": 1.0})})
    mind = LiveMind(config, home=home, embedder=embedder)
    try:
        async with Client(create_mcp_server(lambda: mind)) as client:
            answered = await client.call_tool("ask", {"question": QUESTION, "expert": "generalist", "max_tokens": 8})
            assert not answered.is_error, answered.content
            loaded_after_ask = [m.model for m in mind.status().loaded]
            with anyio.fail_after(30):  # the reaper runs every ttl/4; no MCP call touches the pool meanwhile
                while mind.status().loaded:
                    await anyio.sleep(0.1)
            status = await client.call_tool("status", {})
    finally:
        mind.close()
    assert loaded_after_ask == ["smollm2-135m"]
    assert status.structured_content is not None and status.structured_content["loaded"] == []
    assert any(e.kind == "unload" and "idle" in e.reason for e in mind.pool.events)


# -- a real HTTP server process -------------------------------------------------------------------

def mcp_url(server: ServerProcess) -> str:
    """Where `livemind mcp --http` serves MCP."""
    return f"{server.base_url}/mcp"


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory, models_home: Path) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("mcp-http-home")
    (home / "models").symlink_to(models_home / "models", target_is_directory=True)
    port = free_port()
    server = start([*_livemind_command(), "--http", "--port", str(port)],
                   clean_env(LIVEMIND_HOME=str(home), LIVEMIND_API_KEY=API_KEY), port, startup_s=START_DEADLINE_S,
                   ready_line=LISTENING_LINE)  # uvicorn listens once the lifespan has opened LiveMind
    try:
        yield server
    finally:
        server.stop()


async def test_http_without_the_bearer_token_gets_401(http_server: ServerProcess) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        missing = await http.post(mcp_url(http_server), json=INITIALIZE, headers=MCP_HEADERS)
        wrong = await http.post(mcp_url(http_server), json=INITIALIZE,
                                headers={**MCP_HEADERS, "Authorization": "Bearer not-the-key"})
    assert missing.status_code == 401 and wrong.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert "LIVEMIND_API_KEY" in missing.json()["error"]["message"]


async def test_http_with_a_bad_origin_or_host_is_refused_even_with_the_token(http_server: ServerProcess) -> None:
    authorised = {**MCP_HEADERS, "Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(timeout=30) as http:
        evil_origin = await http.post(mcp_url(http_server), json=INITIALIZE,
                                      headers={**authorised, "Origin": "http://evil.example"})
        evil_host = await http.post(mcp_url(http_server), json=INITIALIZE, headers={**authorised, "Host": "evil.example"})
        local_origin = await http.post(mcp_url(http_server), json=INITIALIZE,
                                       headers={**authorised, "Origin": f"http://127.0.0.1:{http_server.port}"})
    assert evil_origin.status_code == 403
    assert evil_host.status_code == 421
    assert local_origin.status_code == 200


async def test_http_rejects_a_body_over_the_size_limit(http_server: ServerProcess) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(mcp_url(http_server), content=b"{" + b" " * (2 * 2**20) + b"}",
                                   headers={**MCP_HEADERS, "Authorization": f"Bearer {API_KEY}"})
    assert response.status_code == 413


async def test_the_sdk_http_client_with_the_token_lists_tools_and_asks(http_server: ServerProcess) -> None:
    async with (create_mcp_http_client(headers={"Authorization": f"Bearer {API_KEY}"}) as http,
                Client(streamable_http_client(mcp_url(http_server), http_client=http)) as client):
        assert {t.name for t in (await client.list_tools()).tools} == TOOLS
        progress = ProgressLog()
        result = await client.call_tool("ask", {"question": QUESTION, "expert": "generalist", "max_tokens": 40},
                                        progress_callback=progress)
    assert not result.is_error, result.content
    answer = Answer.model_validate(result.structured_content)
    assert answer.expert == "generalist" and answer.answer.strip() and 0 < answer.tokens <= 40
    if answer.tokens >= 16:
        assert progress.messages[0] == "16 tokens"


def test_a_non_loopback_bind_without_a_token_is_refused(tmp_path: Path, models_home: Path) -> None:
    (tmp_path / "models").symlink_to(models_home / "models", target_is_directory=True)
    env = {**os.environ, "LIVEMIND_HOME": str(tmp_path)}
    env.pop("LIVEMIND_API_KEY", None)
    done = subprocess.run([*_livemind_command(), "--http", "--host", "0.0.0.0", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=START_DEADLINE_S)
    assert done.returncode == 2
    assert "refusing to serve MCP on 0.0.0.0" in done.stderr and "LIVEMIND_API_KEY" in done.stderr


# -- the MCP Inspector CLI over stdio -------------------------------------------------------------

@pytest.fixture(scope="session")
def inspector() -> Path:
    """The MCP Inspector CLI, installed once from npm into ~/.cache/livemind/npm."""
    launcher = NPM_CACHE / "node_modules" / ".bin" / "mcp-inspector"
    if not launcher.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is missing: install Node.js 20+ to run the Inspector tests")
        NPM_CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(NPM_CACHE), INSPECTOR],
                       check=True, capture_output=True, timeout=900)
    return launcher


def _inspect(inspector: Path, home: Path, tmp_path: Path, *method: str) -> dict[str, object]:
    livemind = Path(sys.executable).with_name("livemind")
    env = {**os.environ, "MCP_CATALOG_PATH": str(tmp_path / "catalog.json"),
           "MCP_CLIENT_CONFIG_PATH": str(tmp_path / "client.json")}
    done = subprocess.run([str(inspector), "--cli", str(livemind), "mcp", "-e", f"LIVEMIND_HOME={home}",
                           "-e", f"LIVEMIND_COUNCIL={os.environ['LIVEMIND_COUNCIL']}",  # a stdio client passes few variables
                           "--connect-timeout", str(int(START_DEADLINE_S * 1000)), *method, "--format", "json"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"inspector exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    envelope = json.loads(done.stdout)
    assert isinstance(envelope, dict) and isinstance(envelope["result"], dict), envelope
    return envelope["result"]


def test_the_inspector_lists_the_tools_over_stdio(inspector: Path, home: Path, tmp_path: Path) -> None:
    listed = _inspect(inspector, home, tmp_path, "--method", "tools/list")
    tools = listed["tools"]
    assert isinstance(tools, list) and {t["name"] for t in tools} == TOOLS


def test_the_inspector_calls_ask_and_consensus_over_stdio(inspector: Path, home: Path, tmp_path: Path) -> None:
    asked = _inspect(inspector, home, tmp_path, "--method", "tools/call", "--tool-name", "ask",
                     "--tool-args-json", json.dumps({"question": QUESTION, "max_tokens": 24}))
    assert asked["isError"] is False
    answer = Answer.model_validate(asked["structuredContent"])
    assert answer.answer.strip() and answer.tokens <= 24
    convened = _inspect(inspector, home, tmp_path, "--method", "tools/call", "--tool-name", "consensus",
                        "--tool-args-json", json.dumps({"question": QUESTION, "max_tokens": 24,
                                                        "experts": ["generalist", "coder"]}))
    assert convened["isError"] is False
    debate = DebateResult.model_validate(convened["structuredContent"])
    assert {p.expert for p in debate.positions} == {"generalist", "coder"} and debate.answer.strip()
