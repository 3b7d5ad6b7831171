"""The MCP server in memory: a real `mcp.Client` session over a LiveMind with scripted backends."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent, TextResourceContents

from livemind.council.prompts import SHARED_END
from livemind.engine.backends.base import LoadTarget
from livemind.mcp.results import ExpertList, SessionView
from livemind.mcp.server import create_mcp_server
from livemind.orchestrator import LiveMind
from livemind.types import Answer, DebateResult, GenerationRequest, PoolStatus, RouteDecision
from tests.support.fakes import ScriptedLoader
from tests.support.mcp_calls import TOOLS, ProgressLog
from tests.support.minds import EXPERTS, is_synthesis, open_scripted, opinionated, recording_mind, speaker

pytestmark = pytest.mark.anyio
MiB = 2**20
# What an agent's model reads about the tools (name, description, input schema), compact JSON:
# measured at about 4,000 characters (~1,000 tokens) for all seven tools; 4,446 since debate takes `transcript`;
# 5,373 with the eighth tool, `code` (task, signature, tests, experts, samples); about 5,480 with its `probes`;
# 5,603 with its `lead_samples` (the pool of every persona plus the best expert's samples).
MODEL_VISIBLE_BUDGET_CHARS = 5_650
# The whole tools/list response, output schemas included (clients validate with them; models don't read them).
# About 25,500 since council results carry their own control (strategy, trigger, first vote, consistency);
# about 27,850 since every result carries the RAM before and after its request; about 28,650 since every
# routing decision says the question's language and the English translation it was routed on; 32,744 with
# the `code` tool, whose result carries its evidence (groups, candidates, examples, the distinguishing input);
# 33,617 since answers, positions and rounds carry the engine's confidence and results how their vote was weighted;
# 33,806 since the code tool takes `probes` and its result lists them; 34,169 since a routing decision names
# the measured council it convened (`council_kind`) and a code result counts `checked_while_decoding`; 34,590 since
# the strategies include `code` and a position keeps its finish reason (a reply cut off is never run as code);
# 34,724 since the code tool takes `lead_samples`.
WIRE_BUDGET_CHARS = 34_800


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def loader() -> ScriptedLoader:
    return ScriptedLoader(opinionated)


@pytest.fixture
def mind(tmp_path: Path, loader: ScriptedLoader) -> Iterator[LiveMind]:
    mind = open_scripted(tmp_path, loader)
    yield mind
    mind.close()


@pytest.fixture
def server(mind: LiveMind) -> MCPServer:
    return create_mcp_server(lambda: mind)


@pytest.fixture
async def client(server: MCPServer) -> AsyncIterator[Client]:
    async with Client(server) as session:
        yield session


def _text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


# -- the tool list ------------------------------------------------------------------------------

async def test_every_tool_is_listed_with_bounded_inputs_output_schema_and_honest_annotations(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and len(tool.description) <= 160, tool.name
        assert tool.output_schema is not None, f"{tool.name} has no outputSchema"
        assert tool.annotations is not None and tool.annotations.destructive_hint is False
        assert tool.annotations.open_world_hint is False, "the default experts are all local"
    ask = tools["ask"].input_schema["properties"]
    assert ask["max_tokens"]["anyOf"][0] == {"maximum": 1024, "minimum": 1, "type": "integer"}
    assert ask["question"]["maxLength"] == 16_000
    debate = tools["debate"].input_schema["properties"]
    assert debate["rounds"]["anyOf"][0]["maximum"] == 5 and debate["rounds"]["anyOf"][0]["minimum"] == 0
    assert debate["experts"]["anyOf"][0]["maxItems"] == 5
    assert tools["debate"].input_schema["required"] == ["question"]
    consensus_output = tools["consensus"].output_schema or {}
    assert set(consensus_output["properties"]) >= {"answer", "agreement", "dissent", "positions"}
    read_only = {name for name, t in tools.items() if t.annotations and t.annotations.read_only_hint}
    assert read_only == {"ask", "route", "list_experts", "status", "get_session"}


async def test_the_tool_list_stays_small_in_an_agents_context(client: Client) -> None:
    listing = (await client.list_tools()).model_dump(mode="json", by_alias=True, exclude_none=True)
    visible = [{"name": t["name"], "description": t["description"], "input_schema": t["inputSchema"]}
               for t in listing["tools"]]
    visible_chars = len(json.dumps(visible, separators=(",", ":")))
    assert visible_chars <= MODEL_VISIBLE_BUDGET_CHARS, f"the model reads {visible_chars} characters of tools"
    wire_chars = len(json.dumps(listing))
    assert wire_chars <= WIRE_BUDGET_CHARS, f"tools/list is {wire_chars} characters"
    assert "Max Tokens" not in json.dumps(listing), "pydantic's auto titles are stripped"


# -- tools --------------------------------------------------------------------------------------

async def test_ask_returns_a_structured_answer_and_reports_progress_while_generating(client: Client) -> None:
    progress = ProgressLog()
    result = await client.call_tool("ask", {"question": "a question about beta", "expert": "beta",
                                            "max_tokens": 64}, progress_callback=progress)
    assert not result.is_error, _text(result)
    answer = Answer.model_validate(result.structured_content)
    assert answer.expert == "beta" and answer.answer.startswith("beta believes")
    assert answer.answer in _text(result)
    assert progress.messages[:2] == ["16 tokens", "32 tokens"]
    assert all(total == 64 for _, total, _ in progress.events)
    progress.assert_increasing()


async def test_ask_without_an_expert_is_routed(client: Client) -> None:
    result = await client.call_tool("ask", {"question": "a question about gamma"})
    answer = Answer.model_validate(result.structured_content)
    assert answer.expert == "gamma"
    assert answer.routing is not None and answer.routing.selected == ("gamma",)


async def test_consensus_reports_each_expert_the_round_and_the_vote(client: Client) -> None:
    progress = ProgressLog()
    result = await client.call_tool("consensus", {"question": "what is true?", "experts": list(EXPERTS)},
                                    progress_callback=progress)
    assert not result.is_error, _text(result)
    debate = DebateResult.model_validate(result.structured_content)
    assert debate.rounds == 0 and {p.expert for p in debate.positions} == set(EXPERTS)
    assert debate.strategy == "vote", "the server's default strategy decides a consensus"
    assert debate.answer in {p.text for p in debate.positions}, "a vote answers with one of the experts' answers"
    text = _text(result)
    assert debate.answer in text and f"livemind://sessions/{debate.session_id}" in text
    messages = progress.messages
    assert messages[0].startswith("routed to alpha, beta, gamma")
    for name in EXPERTS:
        assert any(m.startswith(f"{name} finished round 0") for m in messages), messages
    assert "round 0 done" in " ".join(messages) and messages[-1] == "synthesis done"
    progress.assert_increasing()
    last, total, _ = progress.events[-1]
    assert last == total


async def test_consensus_takes_a_strategy_per_call(client: Client) -> None:
    result = await client.call_tool("consensus", {"question": "what is true?", "experts": list(EXPERTS),
                                                  "strategy": "debate"})
    assert not result.is_error, _text(result)
    debate = DebateResult.model_validate(result.structured_content)
    assert debate.strategy == "debate" and debate.rounds == 0
    assert debate.answer == "synthesised answer combining everyone", "answers plus a synthesis, no rounds"


async def test_debate_runs_revision_rounds_and_reports_every_round(client: Client) -> None:
    progress = ProgressLog()
    result = await client.call_tool("debate", {"question": "what is true?", "experts": ["alpha", "beta"],
                                               "rounds": 1, "mode": "parallel"}, progress_callback=progress)
    debate = DebateResult.model_validate(result.structured_content)
    assert debate.rounds == 1 and [h.round for h in debate.history] == [0, 1]
    assert any(m.startswith("round 1 done") for m in progress.messages), progress.messages
    assert any(m.startswith("beta finished round 1") for m in progress.messages)
    progress.assert_increasing()


async def test_debate_takes_a_strategy_and_reports_it_with_its_control(client: Client) -> None:
    result = await client.call_tool("debate", {"question": "what is true?", "experts": ["alpha", "beta"],
                                               "strategy": "vote", "mode": "parallel"})
    debate = DebateResult.model_validate(result.structured_content)
    assert debate.strategy == "vote" and debate.rounds == 0 and debate.synthesizer.startswith("vote: ")
    forced = await client.call_tool("debate", {"question": "what is true?", "experts": ["alpha", "beta"],
                                               "rounds": 1, "selective": False, "mode": "parallel"})
    assert DebateResult.model_validate(forced.structured_content).debate_triggered is True


async def test_debate_takes_a_transcript_layout_and_builds_its_prompts_in_it(tmp_path: Path) -> None:
    prompts: list[GenerationRequest] = []
    mind = recording_mind(tmp_path, prompts)
    try:
        async with Client(create_mcp_server(lambda: mind)) as client:
            result = await client.call_tool("debate", {"question": "what is true?", "experts": ["alpha", "beta"],
                                                       "rounds": 1, "selective": False, "mode": "parallel",
                                                       "transcript": "shared"})
        assert not result.is_error, _text(result)
        debate = DebateResult.model_validate(result.structured_content)
        assert debate.rounds == 1 and mind.session(debate.session_id).params["transcript"] == "shared"
    finally:
        mind.close()
    answered = [p for p in prompts if not is_synthesis(p)]
    assert len(answered) == 4 and all(SHARED_END in p.messages[-1].content for p in answered)


async def test_route_scores_every_expert_without_loading_a_model(client: Client, loader: ScriptedLoader) -> None:
    result = await client.call_tool("route", {"question": "a question about alpha", "mode": "single"})
    decision = RouteDecision.model_validate(result.structured_content)
    assert decision.selected == ("alpha",) and {s.expert for s in decision.scores} == set(EXPERTS)
    assert loader.loaded == [], "routing must not load a model"
    assert _text(result).startswith("selected: alpha")


async def test_list_experts_says_whose_model_is_loaded(client: Client) -> None:
    before = ExpertList.model_validate((await client.call_tool("list_experts", {})).structured_content)
    assert [e.name for e in before.experts] == list(EXPERTS) and not any(e.is_loaded for e in before.experts)
    await client.call_tool("ask", {"question": "hello", "expert": "alpha", "max_tokens": 4})
    after = ExpertList.model_validate((await client.call_tool("list_experts", {})).structured_content)
    assert all(e.is_loaded for e in after.experts), "all three personas share the one loaded model"
    assert after.synthesizer == "alpha"


async def test_status_reports_ram_budget_and_loaded_models(client: Client) -> None:
    await client.call_tool("ask", {"question": "hello", "expert": "alpha", "max_tokens": 4})
    result = await client.call_tool("status", {})
    status = PoolStatus.model_validate(result.structured_content)
    assert [m.model for m in status.loaded] == ["smollm2-135m"]
    assert status.ram_total_bytes > status.ram_available_bytes > 0
    assert "smollm2-135m" in _text(result)


async def test_get_session_returns_a_finished_consensus(client: Client) -> None:
    done = await client.call_tool("consensus", {"question": "q", "experts": ["alpha", "beta"]})
    session_id = DebateResult.model_validate(done.structured_content).session_id
    view = SessionView.model_validate((await client.call_tool("get_session", {"session_id": session_id}))
                                      .structured_content)
    assert view.status == "done" and view.result is not None and view.result.session_id == session_id
    assert view.params.rounds == 0 and view.params.experts == ("alpha", "beta")


# -- errors the agent can act on ------------------------------------------------------------------

@pytest.mark.parametrize(("tool", "arguments", "fragments"), [
    ("ask", {"question": "q", "max_tokens": 2000}, ["max_tokens", "less than or equal to 1024"]),
    ("ask", {"question": ""}, ["question", "at least 1 character"]),
    ("debate", {"question": "q", "rounds": 9}, ["rounds", "less than or equal to 5"]),
    ("debate", {"question": "q", "transcript": "public"}, ["transcript", "'private' or 'shared'"]),
    ("consensus", {"question": "q", "experts": ["a", "b", "c", "d", "e", "f"]}, ["experts", "at most 5"]),
    ("consensus", {"question": "q", "mode": "fast"}, ["mode", "'parallel' or 'turns'"]),
    ("get_session", {"session_id": "../etc/passwd"}, ["session_id", "pattern"]),
])
async def test_bad_arguments_are_rejected_naming_the_field_and_the_bound(
        client: Client, loader: ScriptedLoader, tool: str, arguments: dict[str, Any], fragments: list[str]) -> None:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    for fragment in fragments:
        assert fragment in _text(result)
    assert loader.loaded == []


@pytest.mark.parametrize(("tool", "arguments"), [
    ("ask", {"question": "q", "expert": "zeta"}),
    ("consensus", {"question": "q", "experts": ["alpha", "zeta"]}),
    ("debate", {"question": "q", "experts": ["zeta"]}),
])
async def test_an_unknown_expert_error_lists_the_valid_names(client: Client, tool: str, arguments: dict[str, Any]) -> None:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    assert "unknown expert 'zeta'" in _text(result) and "Valid experts: alpha, beta, gamma" in _text(result)


async def test_a_missing_session_says_where_session_ids_come_from(client: Client) -> None:
    result = await client.call_tool("get_session", {"session_id": "nosuchsession"})
    assert result.is_error and "no session 'nosuchsession'" in _text(result)
    assert "consensus and debate" in _text(result)


async def test_ram_budget_errors_tell_the_agent_what_to_do(tmp_path: Path) -> None:
    loader = ScriptedLoader(opinionated, default_size=300 * MiB)
    mind = open_scripted(tmp_path, loader, budget=100 * MiB)
    try:
        async with Client(create_mcp_server(lambda: mind)) as client:
            asked = await client.call_tool("ask", {"question": "q", "expert": "alpha"})
            assert asked.is_error and "RAM budget exceeded loading 'smollm2-135m'" in _text(asked)
            # 300 MiB can never fit a 100 MiB budget: the agent is told so, and what would change it
            assert "retrying will not help" in _text(asked) and "LIVEMIND_RAM_BUDGET above 300 MiB" in _text(asked)
            convened = await client.call_tool("consensus", {"question": "q", "experts": ["alpha", "beta"]})
            assert convened.is_error and "no expert could answer" in _text(convened)
            assert "RAM budget exceeded" in _text(convened) and "retrying will not help" in _text(convened)
    finally:
        mind.close()


# -- cancellation -------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["auto", "legacy"])  # direct dispatch, and JSON-RPC with notifications/cancelled
async def test_cancelling_a_consensus_stops_generation_and_marks_the_session_cancelled(tmp_path: Path, mode: str) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow(target: LoadTarget, request: GenerationRequest) -> str:
        calls.append(speaker(request))
        started.set()
        release.wait(10)
        return opinionated(target, request)

    mind = open_scripted(tmp_path, ScriptedLoader(slow))
    try:
        async with Client(create_mcp_server(lambda: mind), mode=mode) as client:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(client.call_tool, "consensus", {"question": "q", "experts": ["alpha", "beta"],
                                                                 "mode": "turns"})
                with anyio.fail_after(10):
                    await anyio.to_thread.run_sync(started.wait)
                tasks.cancel_scope.cancel()
            session_id = mind.list_sessions()[0].session_id
            # over JSON-RPC the cancel is a notification: wait until the server has acted on it
            assert await anyio.to_thread.run_sync(mind.runtime.cancel_event(session_id).wait, 10)
            worker = next(t for t in threading.enumerate() if t.name == f"debate-{session_id}")
            release.set()
            await anyio.to_thread.run_sync(worker.join, 10)
            assert not worker.is_alive()
            assert mind.session(session_id).status == "cancelled"
            assert calls == ["alpha"], "beta never starts: nothing generates after the cancel"
            again = await client.call_tool("ask", {"question": "still serving?", "expert": "beta", "max_tokens": 3})
            assert not again.is_error
    finally:
        release.set()
        mind.close()


# -- lifespan, resources, prompts -----------------------------------------------------------------

@pytest.mark.parametrize("owns_mind", [True, False])
async def test_the_lifespan_opens_the_mind_once_and_closes_it_only_when_it_owns_it(
        tmp_path: Path, owns_mind: bool) -> None:
    loader = ScriptedLoader(opinionated)
    opened: list[LiveMind] = []

    def provide() -> LiveMind:
        opened.append(open_scripted(tmp_path, loader))
        return opened[-1]

    server = create_mcp_server(provide, owns_mind=owns_mind)
    assert opened == [], "nothing loads before the server starts"
    async with Client(server) as client:
        await client.call_tool("ask", {"question": "q", "expert": "alpha", "max_tokens": 2})
        await client.call_tool("status", {})
    assert len(opened) == 1
    assert loader.loaded[0].closed is owns_mind
    opened[0].close()


async def test_the_expert_catalog_is_a_resource(client: Client) -> None:
    listed = {str(r.uri) for r in (await client.list_resources()).resources}
    assert "livemind://experts" in listed
    contents = (await client.read_resource("livemind://experts")).contents[0]
    assert isinstance(contents, TextResourceContents) and contents.mime_type == "application/json"
    assert [e.name for e in ExpertList.model_validate_json(contents.text).experts] == list(EXPERTS)


async def test_a_session_transcript_is_a_markdown_resource(client: Client) -> None:
    templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
    assert templates == ["livemind://sessions/{session_id}"]
    done = await client.call_tool("consensus", {"question": "what is listed", "experts": ["alpha", "beta"]})
    session_id = DebateResult.model_validate(done.structured_content).session_id
    contents = (await client.read_resource(f"livemind://sessions/{session_id}")).contents[0]
    assert isinstance(contents, TextResourceContents) and contents.mime_type == "text/markdown"
    assert contents.text.startswith(f"# LiveMind session {session_id}") and "what is listed" in contents.text


async def test_second_opinion_prompt_embeds_the_diff_and_points_to_consensus(client: Client) -> None:
    names = {p.name for p in (await client.list_prompts()).prompts}
    assert names == {"second_opinion", "check_claim"}
    diff = "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
    prompt = await client.get_prompt("second_opinion", {"diff": diff, "focus": "off-by-one errors"})
    text = prompt.messages[0].content.text  # type: ignore[union-attr]
    assert diff in text and "`consensus`" in text and "off-by-one errors" in text
