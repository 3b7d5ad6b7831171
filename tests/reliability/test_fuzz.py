"""Hostile input, generated: every HTTP endpoint's body and every MCP tool's arguments.

Hypothesis builds bodies three ways: raw bytes, arbitrary JSON, and near-valid requests whose
fields hold hostile values (unicode, 20,000-character strings, wrong types, negative and
30-digit numbers, deep nesting, empty messages). They go to the product's HTTP server over
loopback (scripted backends underneath: the claim is about the server) with a timeout, so a
hang fails the test. Each must get a 4xx with a message, a 429/503 with Retry-After, or a whole
200; never another 5xx, a broken stream, or a dead server. MCP tools get the same treatment
through one real client session: a tool error with a message, or a valid result.

The server publishes no OpenAPI schema, so schemathesis has nothing to read; these strategies
stand in for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mcp import Client

from tests.support.recording import Record
from tests.support.servers import ServerProcess, sse_events

pytestmark = pytest.mark.slow
REQUEST_S = 60.0
EXPERTS = ["alpha", "beta", "gamma"]
MODELS = [*EXPERTS, "livemind-auto", "livemind-consensus", "livemind-debate"]
FUZZ = settings(max_examples=120, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ACCEPTED_4XX = {400, 404, 405, 413, 415, 422}
SSE_LINE_END = re.compile(r"\r\n|\n|\r")

# -- strategies ---------------------------------------------------------------------------------

HOSTILE_STRINGS = ["", " ", "\u0000", "\t\n", "\ufeff", "\u202e\u202d", "💥" * 50, "ｆｕｌｌ", "a" * 20_000, "../../etc/passwd",
                   "/etc/passwd", "hf:../../x", "%00", "{{7*7}}", "<script>alert(1)</script>", "'; DROP TABLE x;--",
                   "\\ud800", "null", "NaN", "-1", "1e309"]
texts = st.one_of(st.text(max_size=300), st.sampled_from(HOSTILE_STRINGS),
                  st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=17_000))
numbers = st.one_of(st.integers(min_value=-(10**30), max_value=10**30), st.sampled_from([0, -1, 1, 4096, 4097, 2**31, 2**63]),
                    st.floats(allow_nan=False, allow_infinity=False))
leaves = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=6),
                                                           st.dictionaries(st.text(max_size=12), inner, max_size=6)),
                           max_leaves=25)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field that is usually well-typed, sometimes anything at all."""
    return st.one_of(strategy, json_values)


messages = st.lists(st.fixed_dictionaries(
    {"role": maybe(st.sampled_from(["user", "system", "assistant", "developer", "tool", ""])),
     "content": maybe(st.one_of(texts, st.lists(st.fixed_dictionaries({"type": maybe(st.just("text")),
                                                                       "text": maybe(texts)}), max_size=3)))},
    optional={"name": texts}), max_size=4)
council_options = st.fixed_dictionaries({}, optional={"experts": maybe(st.lists(st.sampled_from([*EXPERTS, *HOSTILE_STRINGS]),
                                                                            max_size=10)),
                                                      "rounds": maybe(st.integers(-3, 14)),
                                                      "mode": maybe(st.sampled_from(["auto", "parallel", "turns", "fast"]))})
chat_bodies = st.fixed_dictionaries(
    {"model": maybe(st.sampled_from([*MODELS, *HOSTILE_STRINGS])), "messages": maybe(messages)},
    optional={"stream": maybe(st.booleans()), "max_tokens": maybe(st.integers(-5, 5000)),
              "max_completion_tokens": maybe(st.integers(-5, 5000)), "temperature": maybe(st.floats(-1, 3)),
              "seed": maybe(st.integers(-(2**70), 2**70)), "n": maybe(st.integers(-1, 3)),
              "stream_options": maybe(st.fixed_dictionaries({"include_usage": maybe(st.booleans())})),
              "livemind": maybe(council_options), "top_p": json_values, "user": json_values})
council_bodies = st.fixed_dictionaries(
    {"question": maybe(texts)},
    optional={"experts": maybe(st.lists(st.sampled_from([*EXPERTS, *HOSTILE_STRINGS]), max_size=10)),
              "rounds": maybe(st.integers(-3, 14)), "mode": maybe(st.sampled_from(["auto", "parallel", "turns", "x"])),
              "seed": maybe(st.integers(-(2**70), 2**70)), "max_tokens": maybe(st.integers(-5, 5000)),
              "stream": maybe(st.booleans()), "extra": json_values})
DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"model":"alpha","messages":' + b'{"a":' * 5000 + b"1" + b"}" * 5001


# -- checks ---------------------------------------------------------------------------------

def check_response(response: httpx.Response, payload: bytes) -> None:
    """A 4xx that says what is wrong, a refusal that says when to come back, or a whole answer."""
    status = response.status_code
    if status == 200:
        text = payload.decode()
        if response.headers["content-type"].startswith("text/event-stream"):
            events = list(sse_events(iter(SSE_LINE_END.split(text))))  # not splitlines(): U+0085 is data in SSE
            assert events, text[:500]
            errors = [data["error"] for _, data in events if "error" in data]
            assert not errors or all(e["code"] not in ("internal_error",) for e in errors), errors  # type: ignore[index]
            assert events[-1][0] == "result" or events[-1][1] == {"done": True} or errors, text[-500:]
        else:
            assert json.loads(text), text[:500]
        return
    assert status in ACCEPTED_4XX or status in (429, 503), f"{status}: {payload[:500]!r}"
    if status in (429, 503):
        assert int(response.headers["retry-after"]) >= 1, response.headers
    error = json.loads(payload)["error"]
    assert isinstance(error["message"], str) and error["message"].strip(), error


def post(client: httpx.Client, path: str, content: bytes) -> None:
    with client.stream("POST", path, content=content, headers={"content-type": "application/json"}) as response:
        payload = response.read()
    check_response(response, payload)


@contextmanager
def http_client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=REQUEST_S) as client:
        yield client
    assert httpx.get(f"{server.base_url}/health", timeout=30).status_code == 200, server.log[-3000:]
    assert server.process.poll() is None


def _as_json(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")


# -- HTTP -----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/livemind/consensus", "/v1/livemind/debate"])
def test_raw_bytes_and_arbitrary_json_get_a_4xx_or_a_whole_answer(fake_server: ServerProcess, record: Record,
                                                                  path: str) -> None:
    tried = 0
    with http_client(fake_server) as client:
        @FUZZ
        @given(body=st.one_of(st.binary(max_size=400), json_values.map(_as_json)))
        @example(body=b"")
        @example(body=DEEP)
        @example(body=DEEP_OBJECT)
        @example(body=b"\xff\xfe\x00")
        @example(body=b'{"model": "alpha", "messages": [{"role": "user", "content": "\\ud800"}]}')
        @example(body=b"1e999999")
        def check(body: bytes) -> None:
            nonlocal tried
            tried += 1
            post(client, path, body)

        try:
            check()
        finally:  # how many were tried, even when one failed
            record(kind="fuzz", target=f"POST {path} raw bytes and JSON", tried=tried)


def test_near_valid_chat_completions_get_a_4xx_or_a_whole_answer(fake_server: ServerProcess, record: Record) -> None:
    tried = 0
    with http_client(fake_server) as client:
        @FUZZ
        @given(body=chat_bodies)
        @example(body={"model": "alpha", "messages": []})
        @example(body={"model": "alpha", "messages": [{"role": "user", "content": ""}]})
        @example(body={"model": "alpha", "messages": [{"role": "user", "content": "x" * 16_001}]})
        @example(body={"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "max_tokens": -1})
        @example(body={"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "seed": 10**30})
        @example(body={"model": "livemind-debate", "messages": [{"role": "user", "content": "hi"}],
                       "livemind": {"rounds": 10, "experts": EXPERTS}, "stream": True})
        def check(body: dict[str, Any]) -> None:
            nonlocal tried
            tried += 1
            post(client, "/v1/chat/completions", _as_json(body))

        try:
            check()
        finally:  # how many were tried, even when one failed
            record(kind="fuzz", target="POST /v1/chat/completions near-valid", tried=tried)


@pytest.mark.parametrize("path", ["/v1/livemind/consensus", "/v1/livemind/debate"])
def test_near_valid_council_requests_get_a_4xx_or_a_whole_answer(fake_server: ServerProcess, record: Record,
                                                                 path: str) -> None:
    tried = 0
    with http_client(fake_server) as client:
        @FUZZ
        @given(body=council_bodies)
        @example(body={"question": "q", "experts": ["alpha"] * 9})
        @example(body={"question": "q", "experts": [], "rounds": 0})
        @example(body={"question": " ", "stream": False})
        def check(body: dict[str, Any]) -> None:
            nonlocal tried
            tried += 1
            post(client, path, _as_json(body))

        try:
            check()
        finally:  # how many were tried, even when one failed
            record(kind="fuzz", target=f"POST {path} near-valid", tried=tried)


def test_other_methods_paths_and_queries_get_a_4xx_never_a_5xx(fake_server: ServerProcess, record: Record) -> None:
    tried = 0
    with http_client(fake_server) as client:
        @FUZZ
        @given(method=st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "POST", "OPTIONS"]),
               path=st.sampled_from(["/v1/models", "/v1/livemind/status", "/health", "/metrics", "/v1/chat/completions",
                                     "/v1/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/v1/models/../../x", "/nope",
                                     "/v1/livemind/debate/x", "/" + "a" * 5000]),
               query=st.dictionaries(st.text(max_size=10), st.text(max_size=50), max_size=3))
        def check(method: str, path: str, query: dict[str, str]) -> None:
            nonlocal tried
            tried += 1
            response = client.request(method, path, params=query)
            assert response.status_code < 500 or (response.status_code == 503 and "retry-after" in response.headers), \
                (method, path, response.status_code, response.text[:300])
            assert "root:" not in response.text

        try:
            check()
        finally:  # how many were tried, even when one failed
            record(kind="fuzz", target="other methods, paths and query strings", tried=tried)


# -- MCP ------------------------------------------------------------------------------------

MCP_TOOLS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "ask": st.fixed_dictionaries({}, optional={
        "question": maybe(texts), "expert": maybe(st.sampled_from([*EXPERTS, *HOSTILE_STRINGS])),
        "max_tokens": maybe(st.integers(-5, 2000)), "seed": maybe(numbers), "extra": json_values}),
    "consensus": st.fixed_dictionaries({}, optional={"question": maybe(texts), "experts": maybe(st.lists(
        st.sampled_from([*EXPERTS, *HOSTILE_STRINGS]), max_size=8)), "mode": maybe(st.sampled_from(["parallel", "turns", "x"])),
        "max_tokens": maybe(st.integers(-5, 2000)), "seed": maybe(numbers)}),
    "debate": st.fixed_dictionaries({}, optional={"question": maybe(texts), "experts": maybe(st.lists(
        st.sampled_from([*EXPERTS, *HOSTILE_STRINGS]), max_size=8)), "rounds": maybe(st.integers(-3, 9)),
        "mode": maybe(st.sampled_from(["auto", "single", "parallel", "turns", "x"])), "max_tokens": maybe(st.integers(-5, 2000)),
        "seed": maybe(numbers)}),
    "code": st.fixed_dictionaries({}, optional={"task": maybe(texts), "signature": maybe(texts), "tests": maybe(texts),
        "experts": maybe(st.lists(st.sampled_from([*EXPERTS, *HOSTILE_STRINGS]), max_size=8)),
        "samples": maybe(st.integers(-2, 9))}),
    "route": st.fixed_dictionaries({}, optional={"question": maybe(texts), "mode": maybe(st.sampled_from(["auto", "x"]))}),
    "list_experts": st.fixed_dictionaries({}, optional={"extra": json_values}),
    "status": st.fixed_dictionaries({}, optional={"extra": json_values}),
    "get_session": st.fixed_dictionaries({}, optional={"session_id": maybe(texts)}),
}


@contextmanager
def mcp_session(server: ServerProcess) -> Iterator[tuple[BlockingPortal, Client]]:
    """One real MCP client session over HTTP, driven from synchronous code through a portal."""
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(Client(f"{server.base_url}/mcp")) as client:
        yield portal, client


def call_tool(portal: BlockingPortal, client: Client, tool: str, arguments: dict[str, Any]) -> None:
    async def call() -> Any:
        with anyio.fail_after(REQUEST_S):
            return await client.call_tool(tool, arguments)

    result = portal.call(call)
    text = " ".join(getattr(block, "text", "") for block in result.content)
    if result.is_error:
        assert text.strip(), f"{tool}({arguments!r}) failed without a message"
        assert "Traceback" not in text and "internal error" not in text.lower(), text[:500]
    else:
        assert result.structured_content is not None, (tool, arguments, text[:300])


@pytest.mark.parametrize("tool", list(MCP_TOOLS))
def test_every_mcp_tool_answers_hostile_arguments_with_a_tool_error_or_a_result(
        fake_server: ServerProcess, record: Record, tool: str) -> None:
    tried = 0
    with mcp_session(fake_server) as (portal, client):
        portal.call(client.list_tools)

        @settings(FUZZ, max_examples=60)
        @given(arguments=MCP_TOOLS[tool])
        @example(arguments={})
        @example(arguments={"question": "", "expert": "../../etc/passwd", "session_id": "../../etc/passwd"})
        def check(arguments: dict[str, Any]) -> None:
            nonlocal tried
            tried += 1
            call_tool(portal, client, tool, arguments)

        try:
            check()
        finally:  # how many were tried, even when one failed
            record(kind="fuzz", target=f"MCP tool {tool}", tried=tried)
    assert fake_server.process.poll() is None


def test_unknown_tools_and_raw_json_rpc_junk_get_a_clear_refusal(fake_server: ServerProcess, record: Record) -> None:
    tried = 0
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "1"}}}
    with httpx.Client(base_url=fake_server.base_url, timeout=REQUEST_S) as http:
        opened = http.post("/mcp", json=init, headers=headers)
        assert opened.status_code == 200
        session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}

        @FUZZ
        @given(body=st.one_of(st.binary(max_size=300), json_values.map(_as_json),
                              st.fixed_dictionaries({"jsonrpc": maybe(st.just("2.0")), "id": maybe(st.integers()),
                                                     "method": maybe(st.sampled_from(["tools/call", "tools/list",
                                                                                      "resources/read", "nope"])),
                                                     "params": json_values}).map(_as_json)),
               with_session=st.booleans())
        @example(body=_as_json({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                "params": {"name": "no_such_tool", "arguments": {}}}), with_session=True)
        @example(body=_as_json({"jsonrpc": "2.0", "id": 3, "method": "resources/read",
                                "params": {"uri": "livemind://sessions/../../etc/passwd"}}), with_session=True)
        @example(body=DEEP, with_session=True)
        def check(body: bytes, with_session: bool) -> None:
            nonlocal tried
            tried += 1
            response = http.post("/mcp", content=body, headers={**headers, **(session if with_session else {})})
            assert response.status_code < 500, (response.status_code, response.text[:300])
            assert "root:" not in response.text

        try:
            check()
        finally:  # how many were tried, even when one failed
            record(kind="fuzz", target="raw JSON-RPC on /mcp", tried=tried)
    assert httpx.get(f"{fake_server.base_url}/health", timeout=30).status_code == 200
