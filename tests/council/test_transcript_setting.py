"""The [debate] transcript setting: validated, off by default, and a debate through the graph in the shared layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livemind.cli.main import build_parser
from livemind.config import LiveMindConfig
from livemind.council.prompts import (
    SHARED_END,
    SYNTHESIS_MARKER,
    label_for,
    shared_first_answer_messages,
    shared_revision_messages,
)
from livemind.errors import ConfigError, InvalidRequestError
from livemind.types import GenerationRequest
from tests.support.minds import EXPERTS, recording_mind, scripted_config, transcript_speaker

QUESTION = "which of the three claims holds"


def _config(tmp_path: Path, **debate: object) -> LiveMindConfig:
    return scripted_config(tmp_path, **debate)


@pytest.mark.parametrize("value", ["private", "shared"])
def test_config_accepts_both_transcript_layouts(tmp_path: Path, value: str) -> None:
    assert _config(tmp_path, transcript=value).debate.transcript == value


def test_config_keeps_the_private_layout_by_default(tmp_path: Path) -> None:
    assert _config(tmp_path).debate.transcript == "private"


@pytest.mark.parametrize("value", ["public", "Shared", "", 1])
def test_config_rejects_an_unknown_transcript_naming_the_field_and_choices(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(tmp_path, transcript=value)
    message = str(caught.value)
    assert "transcript" in message and "'private'" in message and "'shared'" in message, message


@pytest.mark.parametrize("call", ["debate", "consensus"])
def test_a_call_with_an_unknown_transcript_is_refused_with_the_choices(tmp_path: Path, call: str) -> None:
    mind = recording_mind(tmp_path, [])
    try:
        with pytest.raises(InvalidRequestError, match="unknown transcript 'public'") as caught:
            getattr(mind, call)(QUESTION, experts=list(EXPERTS), transcript="public")
        assert "private, shared" in (caught.value.hint or "")
    finally:
        mind.close()


@pytest.mark.parametrize("source", ["config", "call"])
def test_a_shared_debate_builds_every_prompt_in_the_shared_layout(tmp_path: Path, source: str) -> None:
    prompts: list[GenerationRequest] = []
    mind = recording_mind(tmp_path, prompts, **({"transcript": "shared"} if source == "config" else {}))
    try:
        result = mind.debate(QUESTION, experts=list(EXPERTS), rounds=2, mode="parallel", selective=False,
                             transcript="shared" if source == "call" else None)
    finally:
        mind.close()
    assert result.rounds == 2 and result.answer == "synthesised answer"
    answered = [p for p in prompts if SYNTHESIS_MARKER not in p.messages[-1].content]
    assert len(answered) == 9, "three experts, three rounds"
    rounds = [list(h.positions) for h in result.history]
    for request in answered:
        name = transcript_speaker(request)
        spec, r = mind.config.expert(name), request.messages[-1].content.count("Answers, round ")
        expected = (shared_revision_messages(spec, label_for(EXPERTS.index(name)), QUESTION, rounds[:r]) if r
                    else shared_first_answer_messages(spec, QUESTION))
        assert list(request.messages) == expected, f"{name}, round {r}"
    revisions = [p.messages[-1].content for p in answered if "Answers, round 2:" in p.messages[-1].content]
    assert len({text.split(SHARED_END)[0] for text in revisions}) == 1, "round 2's transcript is the same for all"


def test_a_debate_keeps_the_private_layout_unless_asked(tmp_path: Path) -> None:
    prompts: list[GenerationRequest] = []
    mind = recording_mind(tmp_path, prompts)
    try:
        mind.debate(QUESTION, experts=list(EXPERTS), rounds=1, mode="parallel", selective=False)
    finally:
        mind.close()
    revisions = [p for p in prompts if any(m.role == "assistant" for m in p.messages)]
    assert len(revisions) == 3 and all(SHARED_END not in p.messages[-1].content for p in revisions)
    assert {p.messages[0].content for p in revisions} == {f"You are {n}." for n in EXPERTS}


@pytest.mark.parametrize(("command", "options", "rounds"), [
    ("debate", ["--rounds", "1", "--no-selective", "--mode", "parallel"], 1),
    ("consensus", [], 0),
])
def test_the_council_commands_pass_transcript_to_the_council(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str], command: str,
                                                              options: list[str], rounds: int) -> None:
    prompts: list[GenerationRequest] = []
    monkeypatch.setattr("livemind.cli.main.open_mind", lambda args: recording_mind(tmp_path, prompts))
    args = build_parser().parse_args([command, QUESTION, "--experts", ",".join(EXPERTS), *options,
                                      "--transcript", "shared", "--json"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["rounds"] == rounds
    answered = [p for p in prompts if SYNTHESIS_MARKER not in p.messages[-1].content]
    assert len(answered) == 3 * (rounds + 1) and all(SHARED_END in p.messages[-1].content for p in answered)
    assert sum("Answers, round 1:" in p.messages[-1].content for p in answered) == 3 * rounds


@pytest.mark.parametrize("source", ["config", "call"])
def test_a_shared_consensus_asks_for_the_first_answers_in_the_shared_layout(tmp_path: Path, source: str) -> None:
    prompts: list[GenerationRequest] = []
    mind = recording_mind(tmp_path, prompts, **({"transcript": "shared"} if source == "config" else {}))
    try:
        result = mind.consensus(QUESTION, experts=list(EXPERTS), transcript="shared" if source == "call" else None,
                                strategy="debate")  # answers, then a synthesis (the default, vote, writes none)
        assert mind.session(result.session_id).params["transcript"] == "shared"
    finally:
        mind.close()
    assert result.rounds == 0 and result.answer == "synthesised answer"
    answered = [p for p in prompts if SYNTHESIS_MARKER not in p.messages[-1].content]
    assert len(answered) == 3
    for request in answered:
        assert list(request.messages) == shared_first_answer_messages(mind.config.expert(transcript_speaker(request)), QUESTION)


def test_a_consensus_keeps_the_private_layout_unless_asked(tmp_path: Path) -> None:
    prompts: list[GenerationRequest] = []
    mind = recording_mind(tmp_path, prompts)
    try:
        mind.consensus(QUESTION, experts=list(EXPERTS))
    finally:
        mind.close()
    answered = [p for p in prompts if SYNTHESIS_MARKER not in p.messages[-1].content]
    assert {p.messages[0].content for p in answered} == {f"You are {n}." for n in EXPERTS}


@pytest.mark.parametrize("command", ["debate", "consensus"])
def test_a_command_refuses_an_unknown_transcript_naming_the_choices(command: str,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args([command, QUESTION, "--transcript", "public"])
    assert caught.value.code == 2
    assert "--transcript: invalid choice: 'public' (choose from" in capsys.readouterr().err
