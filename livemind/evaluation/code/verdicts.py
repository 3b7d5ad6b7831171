"""The official verdict: a candidate against its problem's HumanEval test, in the sandbox."""

from __future__ import annotations

from livemind.council.code.programs import Program
from livemind.evaluation.code.problems import CodeProblem
from livemind.sandbox import run_python


def official_verdict(problem: CodeProblem, program: Program, *, timeout_s: float) -> str:
    """"passed", the sandbox's other status ("failed", "timeout", "memory", "error", …), or why nothing ran."""
    if program.code is None or program.is_cut_off:
        return program.failure or "cut off"
    return run_python(program.code, problem.official_check, timeout_s=timeout_s).status
