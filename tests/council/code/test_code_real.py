"""Code consensus end to end on the real default model (Qwen2.5-Coder-1.5B personas) and the real sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from livemind.config import LiveMindConfig
from livemind.council.code.probes import as_probe
from livemind.orchestrator import LiveMind
from livemind.sandbox import run_python

pytestmark = pytest.mark.slow

TASK = "Write a Python function roman_to_int(s) that converts a Roman numeral to an integer."
TESTS = ("assert roman_to_int('III') == 3\nassert roman_to_int('IV') == 4\nassert roman_to_int('IX') == 9\n"
         "assert roman_to_int('LVIII') == 58\nassert roman_to_int('MCMXCIV') == 1994")


def test_the_chosen_code_is_the_best_supported_group_and_its_reported_evidence_reproduces(
        capable_config: LiveMindConfig, home: Path) -> None:
    mind = LiveMind(capable_config, home=home)
    try:
        # the pool: each persona greedy, and two more samples from the lead (coder), decoded in one batch
        result = mind.code(TASK, tests=TESTS, experts=["coder", "generalist", "mathematician"], lead_samples=2)
    finally:
        mind.close()
    assert result.entry_point == "roman_to_int" and len(result.examples) == 5
    assert len(result.candidates) == 5 and result.tokens > 0
    assert sorted(c.sample for c in result.candidates if c.expert == "coder") == [0, 1, 2]
    assert all(c.finish_reason == "stop" or c.is_cut_off for c in result.candidates)
    if not result.groups:  # every candidate failed to give runnable code: the result says so
        assert result.answer == "" and result.chosen_expert is None and result.note
        return
    best = max((g.examples_passed, g.size) for g in result.groups)
    assert (result.groups[0].examples_passed, result.groups[0].size) == best
    assert result.agreement == pytest.approx(result.groups[0].size / 5, abs=1e-3)
    # the chosen code, run again in the sandbox on the caller's tests, passes exactly what the result claims
    passing = sum(run_python(result.answer, line, timeout_s=10).passed for line in TESTS.splitlines())
    assert passing == result.groups[0].examples_passed


def test_the_experts_probes_are_calls_every_runnable_candidate_answers(capable_config: LiveMindConfig, home: Path) -> None:
    mind = LiveMind(capable_config, home=home)
    try:
        result = mind.code(TASK, tests="assert roman_to_int('III') == 3", experts=["coder", "mathematician"], probes=4)
    finally:
        mind.close()
    assert len(result.probes) <= 8
    assert all(as_probe(call, "roman_to_int") == call for call in result.probes)  # canonical literal-only calls
    assert all(len(g.outputs) == 1 + len(result.probes) or g.outputs[0].startswith("run ") for g in result.groups)
    if result.dissent is not None:
        assert result.dissent.call in ("roman_to_int('III')", *result.probes)


def test_a_routed_function_question_runs_the_councils_code_and_answers_with_a_runnable_reply(
        capable_config: LiveMindConfig, home: Path) -> None:
    question = ("Write a Python function roman_to_int(s) that converts a Roman numeral to an integer.\n"
                ">>> roman_to_int('IX')\n9\n>>> roman_to_int('LVIII')\n58")
    mind = LiveMind(capable_config, home=home)
    try:
        result = mind.consensus(question, experts=["coder", "mathematician"])
    finally:
        mind.close()
    assert result.strategy == "code" and "Reply with only the code" in result.question
    assert result.synthesizer.startswith("code: ") and len(result.positions) == 2
    if "(a group of" in result.synthesizer:  # a reply ran: the answer is one of the replies, and it runs
        assert result.answer in {p.text for p in result.positions}
        assert 0.5 <= result.agreement <= 1.0
    else:  # no reply could run: the result says why and the vote's pick stands
        assert "no reply could run" in result.synthesizer or "no reply defined a function" in result.synthesizer


def test_a_debate_on_a_function_question_answers_with_a_revised_reply_chosen_by_running_it(
        capable_config: LiveMindConfig, home: Path) -> None:
    question = ("Write a Python function roman_to_int(s) that converts a Roman numeral to an integer.\n"
                ">>> roman_to_int('IX')\n9\n>>> roman_to_int('LVIII')\n58")
    mind = LiveMind(capable_config, home=home)
    try:
        result = mind.debate(question, experts=["coder", "mathematician"], rounds=1, selective=False)
    finally:
        mind.close()
    assert result.strategy == "debate" and result.rounds == 1 and "Reply with only the code" in result.question
    if result.synthesizer.startswith("debate: "):  # a revised reply ran: it is the answer, no synthesis was written
        assert result.answer in {p.text for p in result.positions}
        assert all(p.round == 1 for p in result.positions)
    else:  # no revised reply could run: the synthesiser answered and the dissent says why
        assert any(d.startswith("code: ") for d in result.dissent)
