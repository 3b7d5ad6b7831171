"""The `code` strategy through the graph: a council call that names no strategy and asks for a Python function
runs its experts' code in the real sandbox and answers with what passes the question's examples.

The experts are scripts (tests.support.minds); the graph, the options, the sandbox and the pick are real.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from livemind.council.code.consensus import CODE_MAX_TOKENS
from livemind.engine.backends.base import LoadTarget
from livemind.errors import ConfigError
from livemind.types import GenerationRequest
from tests.support.minds import scripted_mind, speaker

QUESTION = "Write a Python function double(x) that returns twice x.\n\n>>> double(2)\n4\n>>> double(5)\n10\n"
RIGHT = "```python\ndef double(x):\n    return 2 * x\n```"
WRONG = "```python\ndef double(x):\n    return x + 2\n```"
ASKED: list[GenerationRequest] = []


def _script(target: LoadTarget, request: GenerationRequest) -> str:
    ASKED.append(request)
    return {"alpha": WRONG, "beta": WRONG, "gamma": RIGHT}[speaker(request)]


@pytest.fixture(autouse=True)
def _fresh() -> None:
    ASKED.clear()


def test_a_function_question_with_no_strategy_is_decided_by_what_the_code_does(tmp_path: Path) -> None:
    mind = scripted_mind(tmp_path, _script)
    try:
        result = mind.consensus(QUESTION, experts=["alpha", "beta", "gamma"])
    finally:
        mind.close()
    assert result.strategy == "code" and result.answer == RIGHT
    assert result.synthesizer == "code: gamma (a group of 1 of 3, passes 2 of 2 stated examples)"
    assert result.agreement == pytest.approx(1 / 3, abs=1e-4)
    assert "on double(5) the chosen code returns 10; alpha, beta's returns 7" in result.dissent
    assert all("Reply with only the code" in r.messages[-1].content for r in ASKED)  # code first, so not cut off
    assert {r.sampling.max_tokens for r in ASKED} == {CODE_MAX_TOKENS}


def test_the_same_replies_voted_on_give_the_majoritys_wrong_code(tmp_path: Path) -> None:
    mind = scripted_mind(tmp_path, _script)
    try:
        result = mind.consensus(QUESTION, experts=["alpha", "beta", "gamma"], strategy="vote")
    finally:
        mind.close()
    assert result.strategy == "vote" and result.answer == WRONG


def test_other_questions_keep_the_configs_strategy(tmp_path: Path) -> None:
    mind = scripted_mind(tmp_path, _script)
    try:
        result = mind.consensus("Which of these is the better design?")
    finally:
        mind.close()
    assert result.strategy == "vote" and not any("Reply with only the code" in r.messages[-1].content for r in ASKED)


def test_an_empty_function_strategy_turns_the_rule_off(tmp_path: Path) -> None:
    mind = scripted_mind(tmp_path, _script, function_strategy="")
    try:
        assert mind.consensus(QUESTION).strategy == "vote"
    finally:
        mind.close()


def test_a_debate_stays_a_debate(tmp_path: Path) -> None:
    mind = scripted_mind(tmp_path, _script)
    try:
        assert mind.debate(QUESTION, rounds=0).strategy == "debate"
    finally:
        mind.close()


def test_an_unknown_function_strategy_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        scripted_mind(tmp_path, _script, function_strategy="shout")
    assert caught.value.field == "debate.function_strategy" and "code" in (caught.value.hint or "")
