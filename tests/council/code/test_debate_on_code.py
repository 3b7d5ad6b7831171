"""`debate` on a question that asks for a Python function: revision rounds, then the revised replies' programs
are run and the execution-checked pick answers (no synthesiser merging programs into prose).

The experts are scripts (tests.support.minds); the graph, the options, the sandbox and the pick are real.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from livemind.council.code.consensus import CODE_MAX_TOKENS
from livemind.engine.backends.base import LoadTarget
from livemind.types import GenerationRequest
from tests.support.minds import answer_round, is_synthesis, scripted_mind, speaker

QUESTION = "Write a Python function double(x) that returns twice x.\n\n>>> double(2)\n4\n>>> double(5)\n10\n"
RIGHT = "```python\ndef double(x):\n    return 2 * x\n```"
WRONG = "```python\ndef double(x):\n    return x + 2\n```"
PROSE = "Multiply the argument by two and return it."
ASKED: list[GenerationRequest] = []


def _persuaded(target: LoadTarget, request: GenerationRequest) -> str:
    """gamma is right from the start; alpha takes gamma's code in the revision round; beta holds on."""
    ASKED.append(request)
    if is_synthesis(request):
        return "A synthesis in prose: double the input."
    name = speaker(request)
    if name == "gamma" or (name == "alpha" and answer_round(request) > 0):
        return RIGHT
    return WRONG


def _prose(target: LoadTarget, request: GenerationRequest) -> str:
    ASKED.append(request)
    return "synthesised answer" if is_synthesis(request) else f"{PROSE} ({speaker(request)})"


@pytest.fixture(autouse=True)
def _fresh() -> None:
    ASKED.clear()


def test_a_function_debate_ends_with_the_revised_code_that_passes_the_examples(tmp_path: Path) -> None:
    mind = scripted_mind(tmp_path, _persuaded)
    try:
        result = mind.debate(QUESTION, experts=["alpha", "beta", "gamma"], rounds=1, selective=False)
    finally:
        mind.close()
    assert result.strategy == "debate" and result.rounds == 1
    assert result.answer == RIGHT
    assert result.synthesizer.startswith("debate: ") and "a group of 2 of 3, passes 2 of 2 stated examples" in result.synthesizer
    assert result.agreement == pytest.approx(2 / 3, abs=1e-4)
    assert any("beta's returns 7" in d for d in result.dissent)
    assert not any(is_synthesis(r) for r in ASKED)  # no synthesiser call: its tokens are not spent
    assert all("Reply with only the code" in r.messages[-1].content for r in ASKED if answer_round(r) == 0)
    assert {r.sampling.max_tokens for r in ASKED} == {CODE_MAX_TOKENS}


def test_without_runnable_code_the_synthesiser_still_answers_and_says_why(tmp_path: Path) -> None:
    mind = scripted_mind(tmp_path, _prose)
    try:
        result = mind.debate(QUESTION, experts=["alpha", "beta", "gamma"], rounds=1, selective=False)
    finally:
        mind.close()
    assert result.answer == "synthesised answer" and result.synthesizer == "alpha"
    assert any(d.startswith("code: ") and "the synthesiser wrote the answer" in d for d in result.dissent)


def test_a_debate_on_another_question_is_synthesised_as_before(tmp_path: Path) -> None:
    mind = scripted_mind(tmp_path, _persuaded)
    try:
        result = mind.debate("Which sorting algorithm suits nearly sorted data?", experts=["alpha", "beta", "gamma"],
                             rounds=1, selective=False)
    finally:
        mind.close()
    assert result.answer == "A synthesis in prose: double the input." and result.synthesizer == "alpha"
    assert not any("Reply with only the code" in r.messages[-1].content for r in ASKED)
