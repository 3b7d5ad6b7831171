"""One options type: the CLI flags, the HTTP request models, the MCP tool arguments and the graph input are made from it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import Field, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from livemind import limits
from livemind.cli.main import build_parser
from livemind.config import DebateSettings
from livemind.council.graph import run_config
from livemind.council.options import CouncilOptions, offered
from livemind.engine.backends.base import LoadTarget
from livemind.errors import InvalidRequestError
from livemind.http.wire import ChatCouncilOptions, CouncilRequest
from livemind.mcp.arguments import agent_type
from livemind.mcp.tools import LiveMindTools, MindRef
from livemind.types import GenerationRequest
from tests.support.minds import scripted_mind, speaker


def _flags(command: str) -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {flag for action in sub.choices[command]._actions for flag in action.option_strings}


def _tool_arguments(name: str) -> set[str]:
    tool = next(t for t in LiveMindTools(MindRef()).tools() if t.name == name)
    return set(tool.parameters["properties"])


@pytest.mark.parametrize("command", ["consensus", "debate"])
def test_every_option_a_command_offers_is_a_flag_named_after_it(command: str) -> None:
    own = {"-h", "--help", "--json", "--config", "--council", "--ram-budget", "--verbose", "-v", "--home"}
    options = {"--" + name.replace("_", "-") for name in offered(f"cli-{command}")}  # type: ignore[arg-type]
    assert _flags(command) - own - {"--no-selective"} == options
    if command == "debate":
        assert {"--rounds", "--selective", "--no-selective"} <= _flags(command)


def test_the_http_council_request_is_the_question_and_every_option() -> None:
    assert set(CouncilRequest.model_fields) == {"question", "stream", *CouncilOptions.model_fields}
    # OpenAI's own max_tokens, seed and temperature stay top-level fields of a chat completion
    assert set(ChatCouncilOptions.model_fields) == set(offered("chat"))
    assert {"max_tokens", "seed", "temperature"}.isdisjoint(ChatCouncilOptions.model_fields)


@pytest.mark.parametrize("tool", ["consensus", "debate"])
def test_the_mcp_council_tools_take_the_question_and_the_options_offered_to_agents(tool: str) -> None:
    assert _tool_arguments(tool) == {"question", *offered(f"mcp-{tool}")}  # type: ignore[arg-type]


def test_agents_get_the_tighter_caps_and_http_the_core_bounds() -> None:
    tool = next(t for t in LiveMindTools(MindRef()).tools() if t.name == "debate")
    agent = {name: schema["anyOf"][0] for name, schema in tool.parameters["properties"].items() if "anyOf" in schema}
    assert agent["rounds"]["maximum"] == limits.AGENT_ROUNDS and agent["max_tokens"]["maximum"] == limits.AGENT_TOKENS
    assert agent["experts"]["maxItems"] == limits.AGENT_EXPERTS
    http = {name: schema["anyOf"][0] for name, schema in CouncilRequest.model_json_schema()["properties"].items()
            if "anyOf" in schema}
    assert http["rounds"]["maximum"] == limits.ROUNDS and http["max_tokens"]["maximum"] == limits.TOKENS
    assert http["experts"]["maxItems"] == limits.EXPERTS


def test_options_are_frozen_and_refused_out_of_bounds_naming_the_field() -> None:
    options = CouncilOptions.of(rounds=2, experts=["a", "b"])
    with pytest.raises(ValidationError):
        options.rounds = 3  # type: ignore[misc]
    with pytest.raises(InvalidRequestError, match="rounds") as refused:
        CouncilOptions.of(rounds=limits.ROUNDS + 1)
    assert refused.value.hint
    with pytest.raises(InvalidRequestError, match="colour"):
        CouncilOptions.of(colour="blue")


def test_resolving_fills_every_default_from_the_config_and_rounds_ask_for_a_debate() -> None:
    settings = DebateSettings(strategy="vote", max_rounds=2, samples=4, selective=False, transcript="shared")
    plain = CouncilOptions().resolved(settings)
    assert (plain.strategy, plain.rounds, plain.samples, plain.selective, plain.transcript) == \
        ("vote", 2, 4, False, "shared")
    assert CouncilOptions.of(rounds=1).resolved(settings).strategy == "debate"
    assert CouncilOptions.of(rounds=1, strategy="select").resolved(settings).strategy == "select"


def _answers(target: LoadTarget, request: GenerationRequest) -> str:
    return {"alpha": "4", "beta": "4", "gamma": "5"}[speaker(request)]


def test_the_graph_carries_the_options_whole_and_the_session_stores_them(tmp_path: Path) -> None:
    mind = scripted_mind(tmp_path, _answers)
    try:
        result = mind.consensus("2+2?", options=CouncilOptions.of(experts=["alpha", "beta", "gamma"], seed=7),
                                strategy="vote")
        state = mind.graph.get_state(run_config(result.session_id)).values
    finally:
        mind.close()
    carried = CouncilOptions.model_validate(state["options"])
    assert (carried.strategy, carried.seed, carried.rounds, carried.mode) == ("vote", 7, 0, "parallel")
    assert carried.experts == ("alpha", "beta", "gamma")
    assert result.strategy == "vote" and result.seed == 7


def test_a_bound_written_on_the_field_itself_reaches_the_agents_schema() -> None:
    field = FieldInfo.from_annotation(Annotated[str | None, Field(max_length=3, description="a note")])
    schema = TypeAdapter(agent_type(field)).json_schema()
    assert schema["anyOf"][0] == {"maxLength": 3, "type": "string"} and schema["description"] == "a note"
