"""Test inputs the experts write: parsed safely, merged fairly, and joining the candidates' behaviour."""

from __future__ import annotations

import pytest

from livemind.council.code import CodeCouncil
from livemind.council.code.evidence import gather_evidence
from livemind.council.code.examples import Example
from livemind.council.code.probes import as_probe, merge_probes, probe_question, read_probes
from livemind.council.code.programs import read_program
from livemind.errors import InvalidRequestError
from livemind.types import Answer

# Both pass the one stated example (sign(5) == 1); only the probes separate them.
TASK = "Write sign(x) that returns 1 for positive x, -1 for negative x and 0 for zero.\n    sign(5) == 1"
RIGHT = "```python\ndef sign(x):\n    return (x > 0) - (x < 0)\n```"
RIGHT_TOO = "```python\ndef sign(x):\n    if x > 0:\n        return 1\n    if x < 0:\n        return -1\n    return 0\n```"
WRONG = "```python\ndef sign(x):\n    return 1 if x >= 0 else -1\n```"  # wrong at zero only


def scripted(candidates: dict[str, str], probes: dict[str, str]) -> tuple[CodeCouncil, list[str]]:
    asked: list[str] = []

    def ask(question: str, expert: str, temperature: float, seed: int | None, max_tokens: int) -> Answer:
        is_probe = "Do not write the function" in question
        asked.append(f"{'probe' if is_probe else 'code'}:{expert}:{temperature}")
        text = probes[expert] if is_probe else candidates[expert]
        return Answer(answer=text, expert=expert, model="scripted", tokens=len(text) // 4, prompt_tokens=10,
                      ttft_s=0.0, total_s=0.0, tok_s=0.0, finish_reason="stop")

    return CodeCouncil(ask, timeout_s=3.0), asked


def test_a_probe_is_a_call_of_the_function_with_literal_arguments_only() -> None:
    assert as_probe("sign(-3)", "sign") == "sign(-3)"
    assert as_probe(">>> sign( 0 )  # zero", "sign") == "sign(0)"
    assert as_probe("assert sign([]) == 0", "sign") == "sign([])"
    assert as_probe("print(sign(x=2.5))", "sign") == "sign(x=2.5)"
    assert as_probe("sign(__import__('os').system('id'))", "sign") is None  # not a literal: never run
    assert as_probe("sign(*args)", "sign") is None
    assert as_probe("other(1)", "sign") is None
    assert as_probe("sign(1); sign(2)", "sign") is None
    assert as_probe("sign(", "sign") is None


def test_probes_are_read_from_the_code_block_and_merged_round_robin_without_the_stated_examples() -> None:
    reply = "Here you go:\n```python\nsign(0)\nsign(-7)\nsign(0)\nsign(5)\n```\nsign(99) outside the block"
    assert read_probes(reply, "sign") == ("sign(0)", "sign(-7)", "sign(5)")
    merged = merge_probes([("sign(0)", "sign(-7)", "sign(5)"), ("sign(1)", "sign(0)")], ["sign(5)"], limit=3)
    assert merged == ("sign(0)", "sign(1)", "sign(-7)")  # each expert contributes before anyone's third


def test_the_probe_question_asks_for_inputs_without_expected_values() -> None:
    question = probe_question("Write sign(x).", "sign", 5, "def sign(x):")
    assert "5 different calls of `sign`" in question and "no expected values" in question and "def sign(x):" in question


def test_a_probe_that_hangs_costs_the_candidate_its_probes_not_its_examples() -> None:
    slow = read_program("", "sign", "```python\ndef sign(x):\n    while x == 0:\n        pass\n    return 1\n```",
                        is_cut_off=False)
    evidence = gather_evidence(slow, [Example(call="sign(5)", expected="1")], timeout_s=2.0,
                               probes=("sign(0)", "sign(-1)"))
    assert evidence.passed == (True,) and evidence.probes == 2
    assert evidence.behaviour[0] == "1" and all(b.startswith("run ") for b in evidence.behaviour[1:])


def test_probes_split_candidates_the_examples_cannot_and_name_the_input_that_separates_them() -> None:
    candidates = {"a": WRONG, "b": RIGHT, "c": RIGHT_TOO}
    probes = {name: "```python\nsign(0)\nsign(-4)\n```" for name in candidates}
    council, asked = scripted(candidates, probes)
    without = council.run(TASK, list(candidates))
    assert [g.size for g in without.groups] == [3] and without.probes == ()  # the example alone cannot tell
    result = council.run(TASK, list(candidates), probes=2)
    assert result.probes == ("sign(0)", "sign(-4)")
    assert [g.size for g in result.groups] == [2, 1] and result.chosen_expert in ("b", "c")
    assert result.groups[0].outputs == ("1", "0", "-1")
    assert result.dissent is not None and result.dissent.call == "sign(0)"
    assert (result.dissent.chosen_output, result.dissent.other_output) == ("0", "1")
    assert sorted(a for a in asked if a.startswith("probe")) == ["probe:a:0.0", "probe:b:0.0", "probe:c:0.0"]
    assert result.tokens > without.tokens  # the probes' replies are counted in the council's cost


def test_a_task_without_examples_is_grouped_by_the_probes_and_says_so() -> None:
    council, _ = scripted({"a": WRONG, "b": RIGHT}, {"a": "sign(0)", "b": "sign(0)\nsign(3)"})
    result = council.run("Write sign(x) that returns the sign of x.", ["a", "b"], probes=3)
    assert result.examples == () and result.probes == ("sign(0)", "sign(3)")
    assert len(result.groups) == 2 and "probes" in result.note


def test_too_many_probes_are_refused_with_the_range() -> None:
    council, _ = scripted({"a": RIGHT}, {"a": ""})
    with pytest.raises(InvalidRequestError, match="between 0 and 12"):
        council.run(TASK, ["a"], probes=13)
