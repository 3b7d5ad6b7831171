"""A council's `temperature`: every expert answer at that temperature; select samples apart, the synthesis its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livemind.cli.main import build_parser
from livemind.council.prompts import SYNTHESIS_MARKER
from livemind.errors import InvalidRequestError
from livemind.types import GenerationRequest
from tests.support.minds import EXPERTS, recording_mind

QUESTION = "which of the three claims holds"


def _split(prompts: list[GenerationRequest]) -> tuple[set[float], set[float]]:
    """(temperatures of the expert answers, temperatures of the synthesis)."""
    answers = {p.sampling.temperature for p in prompts if SYNTHESIS_MARKER not in p.messages[-1].content}
    synthesis = {p.sampling.temperature for p in prompts if SYNTHESIS_MARKER in p.messages[-1].content}
    return answers, synthesis


def test_a_debate_at_temperature_zero_asks_every_answer_greedily_and_leaves_the_synthesis_alone(tmp_path: Path) -> None:
    prompts: list[GenerationRequest] = []
    mind = recording_mind(tmp_path, prompts)
    try:
        own = mind.config.expert("alpha").sampling.temperature
        assert own > 0, "the scripted experts sample by default, so the override is visible"
        result = mind.debate(QUESTION, experts=list(EXPERTS), rounds=1, selective=False, mode="parallel",
                             temperature=0.0)
        assert mind.session(result.session_id).params["temperature"] == 0.0, "a replay answers greedily too"
    finally:
        mind.close()
    answers, synthesis = _split(prompts)
    assert result.rounds == 1 and len([p for p in prompts if SYNTHESIS_MARKER not in p.messages[-1].content]) == 6
    assert answers == {0.0} and synthesis == {own}


def test_without_a_temperature_each_expert_keeps_its_own(tmp_path: Path) -> None:
    prompts: list[GenerationRequest] = []
    mind = recording_mind(tmp_path, prompts)
    try:
        own = {mind.config.expert(n).sampling.temperature for n in EXPERTS}
        mind.consensus(QUESTION, experts=list(EXPERTS))
    finally:
        mind.close()
    assert _split(prompts)[0] == own


def test_select_still_samples_its_answers_apart(tmp_path: Path) -> None:
    prompts: list[GenerationRequest] = []
    mind = recording_mind(tmp_path, prompts)
    try:
        floor = mind.config.debate.select_temperature
        mind.consensus(QUESTION, experts=list(EXPERTS), strategy="select", samples=2, temperature=0.0)
    finally:
        mind.close()
    assert min(_split(prompts)[0]) >= floor > 0, "k greedy samples would all be the same answer"


def test_a_temperature_out_of_bounds_is_refused_with_the_range(tmp_path: Path) -> None:
    mind = recording_mind(tmp_path, [])
    try:
        with pytest.raises(InvalidRequestError, match="temperature") as raised:
            mind.consensus(QUESTION, experts=list(EXPERTS), temperature=5.0)
        assert "0-2" in (raised.value.hint or "")
    finally:
        mind.close()


def test_the_cli_passes_temperature_to_the_council(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    prompts: list[GenerationRequest] = []
    monkeypatch.setattr("livemind.cli.main.open_mind", lambda args: recording_mind(tmp_path, prompts))
    args = build_parser().parse_args(["consensus", QUESTION, "--experts", ",".join(EXPERTS), "--temperature", "0",
                                      "--json"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["strategy"] == "vote"
    assert _split(prompts)[0] == {0.0}
