"""Does the council earn its cost? Checkable tasks through four methods, scored at equal budgets.

    tasks (seeded problems) → runner (single · self-consistency · consensus · debate)
        → reading (one rule for every method: livemind.council.extraction, lenient or strict; ties: voting.TIE_RULE)
        → scoring / conformity / verdict → report (md, json, png)
"""

from livemind.evaluation.report import EvalReport, ReportFiles, build_report, render_markdown, write_report
from livemind.evaluation.results import EvalRun, EvalSettings
from livemind.evaluation.runner import EvalRunner
from livemind.evaluation.tasks import TASKS, Problem, generate_problems

__all__ = [
    "TASKS",
    "EvalReport",
    "EvalRun",
    "EvalRunner",
    "EvalSettings",
    "Problem",
    "ReportFiles",
    "build_report",
    "generate_problems",
    "render_markdown",
    "write_report",
]
