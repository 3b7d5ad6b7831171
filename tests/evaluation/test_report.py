"""The report: Markdown, JSON and PNG from a scripted run, and from a small run on the real default models."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from livemind.cli.main import main
from livemind.evaluation.report import EvalReport, build_report, write_report
from livemind.evaluation.results import METHOD_ORDER, EvalSettings
from livemind.evaluation.runner import EvalRunner
from livemind.evaluation.voting import TIE_RULE
from tests.evaluation.conftest import ScriptedCouncil, Turn

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_report_folder(out: Path) -> EvalReport:
    """Every file is there and well formed; returns the report read back from its JSON."""
    report = EvalReport.model_validate_json((out / "report.json").read_text(encoding="utf-8"))
    png = (out / "accuracy_vs_tokens.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert f"**Verdict: {report.verdict.headline}**" in markdown
    for s in report.scores:
        assert f"| {s.label} | {s.correct}/{s.n} |" in markdown
    assert "![accuracy against tokens](accuracy_vs_tokens.png)" in markdown
    assert [s.method for s in report.scores] == list(METHOD_ORDER)
    for s in report.scores:
        assert s.n == report.run.settings.n and s.tokens > 0 and s.seconds >= 0
        assert s.ci_low <= s.accuracy <= s.ci_high
    return report


def test_a_written_report_reads_back_as_the_same_report(scripted_council: Callable[..., ScriptedCouncil],
                                                          tmp_path: Path) -> None:
    def every_other(turn: Turn) -> int | None:
        return turn.key if (turn.seed or 0) % 2 else (turn.key or 0) + 1

    run = EvalRunner(scripted_council(every_other).mind,
                     EvalSettings(n=6, seed=5, rounds=1, experts=("alpha", "beta"), best_expert="gamma")).run()
    report = build_report(run)
    files = write_report(report, tmp_path / "out")
    assert _check_report_folder(tmp_path / "out") == report
    markdown = files.markdown.read_text(encoding="utf-8")
    for p in run.problems:
        assert f"| {p.problem.question} | {p.problem.answer} |" in markdown
    assert "right → wrong" in markdown and "Same-budget matching" in markdown
    assert TIE_RULE in markdown, "the report states how a tied vote is counted"
    assert "whichever method wrote it, is read by the same **lenient** rule" in markdown
    assert "matched on **generated tokens only**" in markdown
    for s in report.scores:  # both totals, for every method
        assert f"| {s.tokens:,} ({s.tokens / s.n:.0f}) | {s.prompt_tokens:,} ({s.prompt_tokens / s.n:.0f}) |" in markdown
    data = json.loads(files.json.read_text(encoding="utf-8"))
    assert data["verdict"]["headline"] == report.verdict.headline
    assert len(data["run"]["problems"]) == 6


@pytest.mark.slow
def test_a_small_eval_on_the_real_default_models_writes_a_valid_report(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval-out"
    code = main(["--home", str(home), "eval", "--task", "arithmetic", "--n", "2", "--seed", "1", "--rounds", "1",
                 "--max-tokens", "32", "--experts", "mathematician,generalist", "--pilot", "0",
                 "--max-samples", "6", "--out", str(out)])
    assert code == 0
    report = _check_report_folder(out)
    assert all(s.seconds > 0 for s in report.scores), "real generation takes measurable time"
    run = report.run
    assert run.models["mathematician"] == "smollm2-135m"
    assert run.choice.how == "router" and run.choice.expert in run.models
    assert run.council == ("mathematician", "generalist")
    for p in run.problems:
        assert p.single.text and p.vote.reply.text and p.select.reply.text and p.debate.reply.text
        assert {pos.expert for pos in p.debate.positions} == {"mathematician", "generalist"}
        assert 1 <= len(p.samples) <= 6
    debate = run.budget("debate")
    assert debate.target_tokens == sum(p.debate.reply.tokens for p in run.problems)
    assert debate.tokens == sum(a.tokens for p in run.problems for a in p.samples[:debate.k])
