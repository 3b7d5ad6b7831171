"""Strategies are plug-ins: the graph asks the registry, so a new one is a module plus its registration."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from livemind.cli.main import build_parser
from livemind.council import plugins
from livemind.council.embeddings import Vectors
from livemind.council.plugins import REGISTRY, STRATEGY_NAMES, StrategyName, strategy_named
from livemind.council.prompts import SYNTHESIS_MARKER
from livemind.council.strategy import Outcome, RoundView, Synthesise, latest
from livemind.engine.backends.base import LoadTarget
from livemind.errors import ConfigError, InvalidRequestError
from livemind.types import GenerationRequest, Position
from tests.support.minds import scripted_mind, speaker


class Loudest:
    """A strategy written for this test: the longest first answer wins, no synthesis, no rounds."""

    name = "loudest"
    summary = "the longest first answer wins"

    def samples_per_expert(self, requested: int, round_index: int) -> int:
        return 1

    def ends_after(self, view: RoundView) -> str:
        return "loudest: the first answers decide"

    def final_positions(self, positions: Sequence[Position], view: RoundView) -> list[Position]:
        return latest(positions, view.active, view.round)

    def pick(self, final: Sequence[Position], vectors: Vectors, outcome: Outcome, synthesise: Synthesise) -> None:
        winner = max(final, key=lambda p: len(p.text))
        outcome.text, outcome.by = winner.text, f"loudest: {winner.expert}"


@pytest.fixture
def loudest(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Register Loudest as a plug-in would (one entry in the registry) for one test."""
    monkeypatch.setitem(REGISTRY, "loudest", Loudest())
    yield


def _script(target: LoadTarget, request: GenerationRequest) -> str:
    if SYNTHESIS_MARKER in request.messages[-1].content:
        raise AssertionError("a strategy that picks never calls the synthesiser")
    return {"alpha": "short", "beta": "a much longer answer than the others", "gamma": "medium answer"}[speaker(request)]


def test_a_registered_strategy_runs_through_the_graph_and_is_reported(tmp_path: Path, loudest: None) -> None:
    mind = scripted_mind(tmp_path, _script)
    try:
        result = mind.consensus("which answer is loudest?", experts=["alpha", "beta", "gamma"], strategy="loudest")
    finally:
        mind.close()
    assert result.strategy == "loudest" and result.synthesizer == "loudest: beta"
    assert result.answer == "a much longer answer than the others" and result.rounds == 0
    assert result.stop_reason == "loudest: the first answers decide"


def test_the_builtin_strategies_are_registered_in_order() -> None:
    assert STRATEGY_NAMES == ("debate", "vote", "select", "code")
    assert all(strategy_named(name).name == name for name in STRATEGY_NAMES)


def test_an_unknown_strategy_is_refused_naming_the_registered_ones() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        strategy_named("shout")
    assert caught.value.hint == "use one of: debate, vote, select, code"


def test_the_cli_offers_the_registrys_choices() -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["debate", "q", "--strategy", "shout"])
    for name in STRATEGY_NAMES:
        assert parser.parse_args(["debate", "q", "--strategy", name]).strategy == name


def test_wire_and_tool_models_check_and_document_the_registrys_names() -> None:
    class Body(BaseModel):
        strategy: StrategyName | None = None

    assert Body(strategy="select").strategy == "select"
    with pytest.raises(ValidationError, match="use one of: debate, vote, select"):
        Body(strategy="shout")
    schema = Body.model_json_schema()["properties"]["strategy"]["anyOf"][0]
    assert schema == {"type": "string", "enum": list(plugins.STRATEGY_NAMES)}


def test_a_config_whose_default_strategy_is_not_registered_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        scripted_mind(tmp_path, _script, strategy="shout")
    assert caught.value.field == "debate.strategy" and "debate, vote, select" in (caught.value.hint or "")
