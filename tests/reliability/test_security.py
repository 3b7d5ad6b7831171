"""Security at the edge: loopback by default, constant-time tokens, Host/Origin checks, no path
traversal, per-request caps, and no prompts in the logs.

Behaviour is checked against running servers: `livemind serve` on the real models (the
`fault_server`) where files and logs matter, the product's server over scripted backends where
only the HTTP layer does. Two properties are also checked by reading the code, because no
black-box test can prove them: the token comparison is hmac.compare_digest, and the default
bind addresses are loopback.
"""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import psutil
import pytest
from mcp import Client

from livemind.cli import main as cli
from livemind.http.app import DEFAULT_HOST
from livemind.server import security
from tests.support.recording import Record
from tests.support.servers import REPO, ServerProcess, clean_env, start_fake_server

API_KEY = "s3cret-key-1234"
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "sec", "version": "1"}}}
TRAVERSALS = ["../../etc/passwd", "/etc/passwd", "hf:../../x", "hf:owner/repo/../../../etc/passwd",
              "generalist/../../etc/passwd", "..%2f..%2fetc%2fpasswd", "~/.ssh/id_rsa", "file:///etc/passwd",
              "C:\\Windows\\win.ini", "smollm2-135m/../../../etc/passwd"]
REFUSALS = ("unknown expert", "should match pattern", "at most 64 characters", "no session")


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The product's server over scripted backends, with an API key."""
    server = start_fake_server(tmp_path_factory.mktemp("keyed"), api_key=API_KEY)
    yield server
    assert server.stop() == 0, server.log[-3000:]


# -- binding --------------------------------------------------------------------------------

@pytest.mark.slow
def test_servers_bind_loopback_by_default(fault_server: ServerProcess) -> None:
    assert DEFAULT_HOST == "127.0.0.1"
    parser = cli.build_parser()
    assert parser.parse_args(["serve"]).host == "127.0.0.1"
    assert parser.parse_args(["mcp", "--http"]).host == "127.0.0.1"
    # the real server, started without --host, listens on loopback only
    listening = [c.laddr for c in psutil.Process(fault_server.pid).net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN]
    assert listening and all(address.ip == "127.0.0.1" for address in listening), listening


@pytest.mark.slow
def test_serve_refuses_a_public_bind_without_a_bearer_token(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "livemind.cli.main", "serve", "--host", "0.0.0.0", "--port", "1"],
                          cwd=REPO, env=clean_env(LIVEMIND_HOME=str(tmp_path)), capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 2
    assert "refusing to serve on 0.0.0.0 without LIVEMIND_API_KEY" in done.stderr, done.stderr[-2000:]


# -- the bearer token -----------------------------------------------------------------------

def test_the_bearer_token_is_compared_in_constant_time_by_reading_the_code() -> None:
    source = textwrap.dedent(inspect.getsource(security.BearerAuth.__call__))
    tree = ast.parse(source)
    calls = [ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)]
    assert "hmac.compare_digest" in calls
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn)
                                                 for op in node.ops):  # no ==, != or in on the secret
            text = ast.unparse(node)
            assert "token" not in text and "_key" not in text, text
    assert "startswith" not in source and "find(" not in source


@pytest.mark.slow
@pytest.mark.parametrize(("authorization", "is_accepted"), [
    (f"Bearer {API_KEY}", True),
    (f"bearer {API_KEY}", True),                          # the scheme is case-insensitive (RFC 7235)
    (f"Bearer  {API_KEY}", True),
    ("", False),
    ("Bearer", False),
    (API_KEY, False),
    (f"Basic {API_KEY}", False),
    (f"Bearer {API_KEY[:-1]}", False),                    # a prefix
    (f"Bearer {API_KEY}5", False),                        # longer
    (f"Bearer {API_KEY[:-1]}5", False),                   # same length, last byte differs
    (f"Bearer {API_KEY.upper()}", False),
    (f"Bearer {API_KEY}\u00e9".encode(), False),                  # bytes beyond ASCII
])
def test_only_the_exact_token_opens_the_api_and_mcp(keyed_server: ServerProcess, authorization: str | bytes,
                                                    is_accepted: bool) -> None:
    value = authorization if isinstance(authorization, bytes) else authorization.encode()
    headers = [(b"authorization", value)] if value else []
    models = httpx.get(f"{keyed_server.base_url}/v1/models", headers=headers, timeout=30)
    mcp_headers = [(k.encode(), v.encode()) for k, v in MCP_HEADERS.items()]
    mcp = httpx.post(f"{keyed_server.base_url}/mcp", json=INITIALIZE, headers=mcp_headers + headers, timeout=30)
    assert httpx.get(f"{keyed_server.base_url}/health", timeout=30).status_code == 200, "health needs no token"
    if is_accepted:
        assert models.status_code == 200 and mcp.status_code == 200, (models.text, mcp.text)
    else:
        assert models.status_code == 401 and mcp.status_code == 401, (models.text, mcp.text)
        assert models.headers["www-authenticate"].startswith("Bearer")
        assert API_KEY not in models.text, "the refusal never echoes the key"


# -- Host and Origin on /mcp ----------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("which", ["fake_server", "fault_server"])
def test_mcp_over_http_keeps_the_host_and_origin_checks(request: pytest.FixtureRequest, which: str,
                                                        record: Record) -> None:
    server: ServerProcess = request.getfixturevalue(which)
    url = f"{server.base_url}/mcp"
    local = f"http://127.0.0.1:{server.port}"
    cases = {
        "foreign origin": ({"origin": "http://evil.example"}, 403),
        "rebinding origin": ({"origin": "http://127.0.0.1.evil.example"}, 403),
        "null origin": ({"origin": "null"}, 403),
        "foreign host": ({"host": "evil.example"}, 421),
        "rebinding host": ({"host": f"localhost.evil.example:{server.port}"}, 421),
        "own origin": ({"origin": local}, 200),
        "no origin": ({}, 200),
    }
    record(kind="security", check=f"Host/Origin on /mcp ({which})", cases=len(cases))  # written with the outcome
    for name, (extra, expected) in cases.items():
        response = httpx.post(url, json=INITIALIZE, headers={**MCP_HEADERS, **extra}, timeout=30)
        assert response.status_code == expected, (name, response.status_code, response.text[:300])


# -- path traversal -------------------------------------------------------------------------

@pytest.mark.slow
def test_nothing_from_a_request_can_name_a_file_outside_the_model_folders(
        fault_server: ServerProcess, tmp_path: Path, models_home: Path, record: Record) -> None:
    canary = tmp_path / "canary.gguf"  # a loadable model outside every configured folder
    canary.symlink_to(models_home / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf")
    names = [*TRAVERSALS, str(canary), f"hf:{canary}"]
    before = httpx.get(f"{fault_server.base_url}/v1/livemind/status", timeout=30).json()["pool"]
    tried = 0
    for name in names:
        chat = {"model": name, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        response = httpx.post(f"{fault_server.base_url}/v1/chat/completions", json=chat, timeout=60)
        assert response.status_code == 404 and f"unknown model '{name}'" in response.json()["error"]["message"]
        council = {"question": "hi", "experts": ["generalist", name], "stream": False, "max_tokens": 2}
        response = httpx.post(f"{fault_server.base_url}/v1/livemind/consensus", json=council, timeout=60)
        message = response.json()["error"]["message"]
        # a name that is not an expert name at all (slashes, dots) fails the shared bounds (400, as over MCP);
        # a well-formed one that names no expert is a 404
        assert (response.status_code == 404 and f"unknown expert '{name}'" in message) or \
            (response.status_code == 400 and "field 'experts" in message), (response.status_code, message)
        tried += 2

    async def over_mcp() -> int:
        calls = 0
        with anyio.fail_after(120):
            async with Client(f"{fault_server.base_url}/mcp") as client:
                for name in names:
                    for tool, arguments in (("ask", {"question": "hi", "expert": name, "max_tokens": 2}),
                                            ("consensus", {"question": "hi", "experts": [name], "max_tokens": 2}),
                                            ("get_session", {"session_id": name})):
                        result = await client.call_tool(tool, arguments)
                        text = " ".join(getattr(b, "text", "") for b in result.content)
                        assert result.is_error and any(refusal in text for refusal in REFUSALS), (tool, name, text)
                        assert "root:" not in text
                        calls += 1
                    try:
                        resource = await client.read_resource(f"livemind://sessions/{name}")
                        contents = " ".join(getattr(c, "text", "") for c in resource.contents)
                    except Exception as exc:  # the SDK raises the server's refusal: its text must not leak the file
                        contents = str(exc)
                    assert "root:" not in contents and "GGUF" not in contents
                    calls += 1
        return calls

    tried += anyio.run(over_mcp)
    after = httpx.get(f"{fault_server.base_url}/v1/livemind/status", timeout=30).json()["pool"]
    assert after["loads"] == before["loads"], "no request made the pool load anything"
    assert not any(str(canary) in m["key"] for m in after["loaded"])
    record(kind="security", check="path traversal via HTTP model/experts and MCP expert/experts/session/resource",
           cases=tried)


# -- per-request caps -----------------------------------------------------------------------

@pytest.mark.slow
def test_http_refuses_a_body_over_one_mib_before_reading_it(fake_server: ServerProcess) -> None:
    response = httpx.post(f"{fake_server.base_url}/v1/chat/completions", content=b"{" + b" " * (2**20 + 1) + b"}",
                          headers={"content-type": "application/json"}, timeout=60)
    assert response.status_code == 413 and "over the limit of 1048576 bytes" in response.json()["error"]["message"]


# The bounds themselves (rounds, experts, tokens, seed, question size) are checked through every
# interface by one table: tests/interfaces/test_limits.py.


# -- logs -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_prompts_are_not_written_to_the_log_at_the_default_level(fault_server: ServerProcess, record: Record) -> None:
    marker = f"PROMPT-MARKER-{uuid.uuid4().hex}"
    record(kind="security", check="prompt marker absent from server log at INFO", cases=9)  # 6 HTTP requests, 3 MCP calls
    mark = fault_server.mark()
    base = fault_server.base_url
    chat = {"messages": [{"role": "user", "content": f"Repeat {marker}"}], "max_tokens": 4}
    sent = [
        httpx.post(f"{base}/v1/chat/completions", json={**chat, "model": "generalist"}, timeout=300),
        httpx.post(f"{base}/v1/chat/completions", json={**chat, "model": "truncated"}, timeout=300),
        httpx.post(f"{base}/v1/chat/completions", json={**chat, "model": marker}, timeout=300),
        httpx.post(f"{base}/v1/chat/completions", json={**chat, "model": "generalist", "max_tokens": marker}, timeout=300),
        httpx.post(f"{base}/v1/livemind/consensus", timeout=300, json={
            "question": f"Repeat {marker}", "experts": ["generalist", "coder", "futurist"], "max_tokens": 4,
            "stream": False}),
        httpx.post(f"{base}/v1/chat/completions", timeout=300,
                   json={"model": "generalist", "messages": [{"role": "user", "content": f"{marker} " * 3000}]}),
    ]
    assert [r.status_code for r in sent] == [200, 503, 404, 400, 200, 400], [r.text[:200] for r in sent]

    async def over_mcp() -> None:
        with anyio.fail_after(300):
            async with Client(f"{base}/mcp") as client:
                await client.call_tool("ask", {"question": f"Repeat {marker}", "expert": "coder", "max_tokens": 4})
                await client.call_tool("ask", {"question": f"Repeat {marker}", "max_tokens": 5000})
                await client.call_tool("ask", {"question": f"Repeat {marker}", "expert": "vanishing"})

    anyio.run(over_mcp)
    logged = fault_server.log_since(mark)
    assert marker not in logged, [line for line in logged.splitlines() if marker in line][:3]
    assert "INFO livemind.http: ready:" in fault_server.log, "the server logs at INFO: the default level"
