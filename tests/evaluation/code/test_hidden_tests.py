"""Selection never sees the official tests: only the docstring's examples reach it."""

from __future__ import annotations

import pytest

from livemind.council.code import evidence as evidence_module
from livemind.council.code.consensus import code_question
from livemind.council.code.evidence import gather_evidence
from livemind.council.code.programs import read_program
from livemind.council.code.selection import select_by_execution
from livemind.evaluation.code.problems import CodeProblem, load_humaneval
from livemind.evaluation.code.runner import CODE_TASK, code_prompt
from livemind.evaluation.code.verdicts import official_verdict
from livemind.sandbox import SandboxResult

# The docstring says double(2) is 4; the official test (deliberately) wants 5.
PROBLEM = CodeProblem(task_id="Test/0", entry_point="double",
                      prompt='def double(x: int) -> int:\n    """Twice x.\n    >>> double(2)\n    4\n    """\n',
                      test="def check(candidate):\n    assert candidate(2) == 5\n    assert candidate(7) == 5\n")
MATCHES_EXAMPLES = "```python\ndef double(x: int) -> int:\n    return 2 * x\n```"
MATCHES_OFFICIAL = "```python\ndef double(x: int) -> int:\n    return 5\n```"


def test_no_line_of_an_official_test_is_in_what_candidates_and_selection_see() -> None:
    for problem in load_humaneval():
        seen = problem.task().model_dump_json()
        asserts = [ln.strip() for ln in problem.test.splitlines() if ln.strip().startswith("assert")]
        assert asserts, problem.task_id
        assert not any(a in seen for a in asserts), problem.task_id
        assert "def check(" not in seen


def test_selection_follows_the_examples_even_when_the_official_tests_disagree(monkeypatch: pytest.MonkeyPatch) -> None:
    programs_run: list[str] = []
    real = evidence_module.run_python

    def recording(code: str, tests: str = "", **kwargs: float) -> SandboxResult:
        programs_run.append(code + tests)
        return real(code, tests, **kwargs)

    monkeypatch.setattr(evidence_module, "run_python", recording)
    task = PROBLEM.task()
    programs = [read_program(PROBLEM.prompt, PROBLEM.entry_point, reply, is_cut_off=False)
                for reply in (MATCHES_OFFICIAL, MATCHES_EXAMPLES)]
    evidence = [gather_evidence(p, task.examples, timeout_s=10) for p in programs]
    verdicts = [official_verdict(PROBLEM, p, timeout_s=10) for p in programs]

    assert verdicts == ["passed", "failed"]  # the official test prefers the first
    assert [e.passed for e in evidence] == [(False,), (True,)]  # the examples prefer the second
    assert select_by_execution(evidence).chosen == 1
    assert programs_run and not any("candidate(2) == 5" in p or "check(" in p for p in programs_run)


def test_every_method_asks_the_words_the_committed_run_asked() -> None:
    # docs/eval/humaneval-default was generated with this question; changing it starts a different experiment
    asked = ("Complete the following Python function. Reply with only the code: one ```python block holding the "
             "whole function (its signature, its body and any imports it needs), with no explanation and no tests."
             "\n\n```python\n{prompt}```")
    problems = load_humaneval()
    assert all(code_prompt(p) == asked.format(prompt=p.prompt) for p in problems)
    assert code_prompt(problems[0]) == code_question(CODE_TASK, problems[0].prompt)  # what `livemind code` asks
