"""Code consensus at the edges: the MCP `code` tool through a real `mcp.Client` session, and POST
/v1/livemind/code through the real HTTP app (in process). Typed results, progress, clear errors.

The experts are scripted (one writes a wrong function); the candidates run in the real sandbox.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mcp import Client

from livemind.config import parse_config
from livemind.council.code import CodeResult
from livemind.engine.backends.base import LoadTarget
from livemind.engine.catalog import ModelCatalog
from livemind.mcp.server import create_mcp_server
from livemind.orchestrator import LiveMind
from livemind.types import GenerationRequest
from tests.support.fakes import ScriptedLoader
from tests.support.inprocess import serve_in_process
from tests.support.minds import open_mind

pytestmark = pytest.mark.anyio
EXPERTS = ("alpha", "beta", "gamma")
WRITES = {"alpha": "def double(x):\n    return x + 2",  # right on double(2) only
          "beta": "def double(x):\n    return 2 * x",
          "gamma": "def double(x):\n    return x * 2"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def coders(target: LoadTarget, request: GenerationRequest) -> str:
    who = request.messages[0].content.removeprefix("You are ").rstrip(".")
    if "Do not write the function" in request.messages[-1].content:  # asked for probes: test inputs
        return "```python\ndouble(0)\ndouble(-3)\n```"
    return f"```python\n{WRITES[who]}\n```"


@pytest.fixture
def mind(tmp_path: Path) -> Iterator[LiveMind]:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"GGUF")
    doc = {"experts": [{"name": n, "model": "smollm2-135m", "persona": f"You are {n}.", "description": f"{n} code",
                        "examples": [f"write {n} code"]} for n in EXPERTS],
           "router": {"fallback": "alpha", "top_k": 3},
           "debate": {"synthesizer": "alpha", "max_rounds": 2, "agreement_threshold": 0.95}}
    mind = open_mind(tmp_path, parse_config(doc, ModelCatalog(tmp_path), check_files=False), ScriptedLoader(coders))
    yield mind
    mind.close()


@pytest.fixture
async def client(mind: LiveMind) -> AsyncIterator[Client]:
    async with Client(create_mcp_server(lambda: mind)) as session:
        yield session


async def test_the_code_tool_returns_the_chosen_code_its_agreement_and_the_dissent(client: Client) -> None:
    progress: list[str] = []

    async def on_progress(_done: float, _total: float | None, message: str | None) -> None:
        progress.append(message or "")

    result = await client.call_tool("code", {"task": "Write double(x), twice x.", "experts": list(EXPERTS),
                                             "tests": "assert double(2) == 4\nassert double(5) == 10"},
                                    progress_callback=on_progress)
    assert not result.is_error
    typed = CodeResult.model_validate(result.structured_content)
    assert typed.answer.startswith("def double") and "x + 2" not in typed.answer
    assert typed.agreement == pytest.approx(2 / 3, abs=1e-3)
    assert typed.dissent is not None and typed.dissent.call == "double(5)" and typed.dissent.other_experts == ("alpha",)
    assert "agreement 0.67" in result.content[0].text  # type: ignore[union-attr]
    assert progress[0] == "experts are writing candidates" and progress[-1].startswith("chosen")


async def test_the_code_tool_runs_the_experts_probes_when_asked(client: Client) -> None:
    result = await client.call_tool("code", {"task": "Write double(x), twice x.", "experts": list(EXPERTS),
                                             "tests": "assert double(2) == 4", "probes": 2})
    assert not result.is_error
    typed = CodeResult.model_validate(result.structured_content)
    assert typed.probes == ("double(0)", "double(-3)") and "2 probes" in result.content[0].text
    assert typed.groups[0].outputs == ("4", "0", "-6") and typed.groups[0].size == 2
    assert typed.dissent is not None and typed.dissent.call == "double(0)"  # the example alone could not tell


async def test_the_code_tool_refuses_an_unknown_expert_and_a_task_without_a_function(client: Client) -> None:
    unknown = await client.call_tool("code", {"task": "Write double(x).", "experts": ["nobody"]})
    assert unknown.is_error and "Valid experts" in unknown.content[0].text  # type: ignore[union-attr]
    schema = {t.name: t for t in (await client.list_tools()).tools}["code"].input_schema["properties"]
    assert schema["samples"]["maximum"] == 4 and schema["tests"]["anyOf"][0]["maxLength"] == 8000


def test_http_code_answers_with_the_typed_result_and_refuses_bad_requests_clearly(mind: LiveMind) -> None:
    with serve_in_process(mind) as (http, _service):
        response = http.post("/v1/livemind/code", json={"task": "Write double(x), twice x.", "experts": list(EXPERTS),
                                                        "tests": "assert double(2) == 4\nassert double(5) == 10"})
        assert response.status_code == 200, response.text
        typed = CodeResult.model_validate(response.json())
        assert "x + 2" not in typed.answer and typed.agreement == pytest.approx(2 / 3, abs=1e-3)
        assert [g.size for g in typed.groups] == [2, 1]
        for body, status, field in (({"task": ""}, 400, "task"), ({"task": "x", "samples": 99}, 400, "samples"),
                                    ({"task": "x", "experts": ["nobody"]}, 404, "valid experts: alpha")):
            bad = http.post("/v1/livemind/code", json=body)
            assert bad.status_code == status and field in bad.text, (body, bad.text)


async def test_the_code_tool_adds_the_leads_samples_to_the_pool(client: Client) -> None:
    result = await client.call_tool("code", {"task": "Write double(x), twice x.", "experts": ["alpha", "beta"],
                                             "tests": "assert double(2) == 4\nassert double(5) == 10", "lead_samples": 2})
    assert not result.is_error
    typed = CodeResult.model_validate(result.structured_content)
    assert sorted((c.expert, c.sample) for c in typed.candidates) == [("alpha", 0), ("alpha", 1), ("alpha", 2), ("beta", 0)]
    assert typed.chosen_expert == "beta"  # the lead's three wrong candidates pass fewer examples than beta's one


def test_http_code_takes_lead_samples_and_refuses_too_many(mind: LiveMind) -> None:
    with serve_in_process(mind) as (http, _service):
        body = {"task": "Write double(x), twice x.", "experts": ["beta", "alpha"], "tests": "assert double(2) == 4",
                "lead_samples": 1, "lead_temperature": 0.5}
        response = http.post("/v1/livemind/code", json=body)
        assert response.status_code == 200, response.text
        assert [c.expert for c in CodeResult.model_validate(response.json()).candidates].count("beta") == 2
        bad = http.post("/v1/livemind/code", json={**body, "lead_samples": 99})
        assert bad.status_code == 400 and "lead_samples" in bad.text


FUNCTION_QUESTION = "Write a Python function double(x) that returns twice x.\n>>> double(2)\n4\n>>> double(5)\n10"


async def test_an_agents_consensus_on_a_function_question_is_decided_by_running_the_code(client: Client) -> None:
    result = await client.call_tool("consensus", {"question": FUNCTION_QUESTION, "experts": list(EXPERTS)})
    assert not result.is_error
    typed = result.structured_content or {}
    assert typed["strategy"] == "code" and "x + 2" not in typed["answer"]
    assert typed["agreement"] == pytest.approx(2 / 3, abs=1e-3)
    assert any("on double(5)" in d and "alpha's returns 7" in d for d in typed["dissent"])


def test_a_chat_completion_on_a_function_question_answers_with_code_that_passes(mind: LiveMind) -> None:
    with serve_in_process(mind) as (http, _service):
        response = http.post("/v1/chat/completions", json={
            "model": "livemind-consensus", "messages": [{"role": "user", "content": FUNCTION_QUESTION}],
            "livemind": {"experts": list(EXPERTS)}})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["livemind"]["strategy"] == "code"
        assert "x + 2" not in body["choices"][0]["message"]["content"]
