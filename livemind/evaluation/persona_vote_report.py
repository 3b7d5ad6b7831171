"""The greedy persona study's report: each persona alone, the votes of three councils, and their calibration.

Rows, all from the same greedy replies of the same run:
- the best single persona (chosen on the pilot), and every other persona alone;
- for each council (the router's, the one measured on the pilot, and every persona), its vote
  weighted by confidence (exp of the reply's mean token log-prob) and its plain count;
- the oracle: some persona in the council is right (the ceiling any choice among them reaches).

Each vote is compared with the best single persona question by question (exact McNemar), and
its agreement (the winning answer's share of the weight, or of the count) is checked against
its correctness: accuracy when unanimous against when split, and the expected calibration error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from livemind.errors import MissingExtraError
from livemind.evaluation.calibration import expected_calibration_error
from livemind.evaluation.persona_vote import PersonaPlan, PersonaQuestion, vote_of
from livemind.evaluation.scoring import mcnemar_p, wilson_interval
from livemind.types import Value


class StudyRow(Value):
    """One method's score over the scored questions."""

    label: str
    kind: str  # "single", "persona", "weighted", "counted", "oracle"
    council: tuple[str, ...]
    correct: int
    n: int
    ci_low: float
    ci_high: float
    splits: int = 0
    tokens_per_question: float = 0.0
    wins: int = 0  # right where the best single persona is wrong
    losses: int = 0  # wrong where the best single persona is right
    p_value: float | None = None
    ece: float | None = None
    unanimous: str = ""  # "right/n" when every voter agreed
    split_accuracy: str = ""  # "right/n" otherwise


class StudyReport(Value):
    """What the study found, ready to print or save."""

    task: str
    n: int
    plan: PersonaPlan
    rows: tuple[StudyRow, ...]
    cut_off: dict[str, int]
    seconds: float


def _row(label: str, kind: str, council: Sequence[str], outcomes: Sequence[bool], baseline: Sequence[bool], *,
         tokens: float, splits: int = 0, agreement: Sequence[float] | None = None) -> StudyRow:
    correct, n = sum(outcomes), len(outcomes)
    low, high = wilson_interval(correct, n)
    wins = sum(o and not b for o, b in zip(outcomes, baseline, strict=True))
    losses = sum(b and not o for o, b in zip(outcomes, baseline, strict=True))
    row = StudyRow(label=label, kind=kind, council=tuple(council), correct=correct, n=n, ci_low=round(low, 4),
                   ci_high=round(high, 4), splits=splits, tokens_per_question=round(tokens, 1), wins=wins,
                   losses=losses, p_value=round(mcnemar_p(wins, losses), 4) if kind != "single" else None)
    if agreement is None:
        return row
    pairs = list(zip(agreement, outcomes, strict=True))
    high_band = [ok for a, ok in pairs if a >= 1.0]
    low_band = [ok for a, ok in pairs if a < 1.0]
    return row.model_copy(update={"ece": expected_calibration_error(pairs),
                                  "unanimous": f"{sum(high_band)}/{len(high_band)}",
                                  "split_accuracy": f"{sum(low_band)}/{len(low_band)}"})


def _councils(plan: PersonaPlan) -> list[tuple[str, tuple[str, ...]]]:
    named = [("router's council", plan.router_council), ("measured council", plan.measured_council),
             ("every persona", plan.experts)]
    seen: dict[tuple[str, ...], str] = {}
    for label, council in named:
        key = tuple(sorted(council))
        seen[key] = f"{seen[key]} = {label}" if key in seen else label
    return [(label, next(c for _, c in named if tuple(sorted(c)) == key)) for key, label in seen.items()]


def build_study_report(plan: PersonaPlan, questions: Sequence[PersonaQuestion]) -> StudyReport:
    """Score every method on the scored questions."""
    n = len(questions)
    best = plan.best_expert
    baseline = [q.reply(best).is_correct for q in questions]
    rows = [_row(f"best single persona ({best}, greedy)", "single", (best,), baseline, baseline,
                 tokens=sum(q.reply(best).tokens for q in questions) / n)]
    for name in plan.experts:
        if name != best:
            outcomes = [q.reply(name).is_correct for q in questions]
            rows.append(_row(f"{name} alone", "persona", (name,), outcomes, baseline,
                             tokens=sum(q.reply(name).tokens for q in questions) / n))
    for label, council in _councils(plan):
        for weighted in (True, False):
            votes = [vote_of(q, council, weighted=weighted) for q in questions]
            outcomes = [v.winner == q.problem.answer for v, q in zip(votes, questions, strict=True)]
            how = "weighted vote" if weighted else "counted vote"
            rows.append(_row(f"{label} ({', '.join(council)}): {how}", "weighted" if weighted else "counted", council,
                             outcomes, baseline, tokens=sum(v.tokens for v in votes) / n,
                             splits=sum(v.is_split for v in votes), agreement=[v.share for v in votes]))
        oracle = [any(q.reply(name).is_correct for name in council) for q in questions]
        rows.append(_row(f"{label}: oracle (some persona right)", "oracle", council, oracle, baseline, tokens=0.0))
    cut = {name: sum(q.reply(name).is_cut_off for q in questions) for name in plan.experts}
    return StudyReport(task=plan.settings.task, n=n, plan=plan, rows=tuple(rows), cut_off=cut,
                       seconds=round(sum(q.seconds for q in questions), 1))


def _share(correct: int, n: int) -> str:
    return f"{correct}/{n}, {100 * correct / n:.0f} %" if n else "0/0"


def study_table(report: StudyReport) -> str:
    """The rows as a Markdown table."""
    lines = ["| method | right (95% CI) | vs best single: +/− (p) | splits | unanimous right | split right | ECE "
             "| generated tokens a question |",
             "|---|---|---|---:|---|---|---:|---:|"]
    for r in report.rows:
        ci = f"{_share(r.correct, r.n)} ({100 * r.ci_low:.0f}–{100 * r.ci_high:.0f})"
        versus = "" if r.p_value is None else f"+{r.wins}/−{r.losses} (p = {r.p_value:.3g})"
        ece = "" if r.ece is None else f"{r.ece:.2f}"
        lines.append(f"| {r.label} | {ci} | {versus} | {r.splits if r.kind in ('weighted', 'counted') else ''} "
                     f"| {r.unanimous} | {r.split_accuracy} | {ece} | {r.tokens_per_question:g} |")
    return "\n".join(lines)


def study_markdown(report: StudyReport) -> str:
    """report.md: how the run was made, what was chosen on the pilot, and the table."""
    plan = report.plan
    pilot = ", ".join(f"{name} {sum(q.reply(name).is_correct for q in plan.pilot)}/{len(plan.pilot)}"
                      for name in plan.experts)
    cut = ", ".join(f"{name} {count}" for name, count in report.cut_off.items())
    return "\n".join([
        f"# Greedy persona votes: {report.task}, {report.n} questions", "",
        f"Every persona ({', '.join(plan.experts)}; model {plan.model}) answered every question once at "
        f"temperature 0 (max {plan.settings.max_tokens} tokens, seed {plan.settings.seed}, reading rule "
        f"{plan.settings.extraction}); every row below is counted from those same replies. Started "
        f"{plan.started_at}; {report.seconds:.0f} s of generation for the scored questions.", "",
        f"- Pilot ({len(plan.pilot)} held-out questions, greedy): {pilot}.",
        f"- Best single persona: **{plan.best_expert}**, {plan.best_reason}.",
        f"- Router's council: {', '.join(plan.router_council)} ({plan.router_reason}).",
        f"- Measured council: {', '.join(plan.measured_council)} ({plan.measured_reason}); to convene it live for "
        "questions like these: `[[router.councils]]` (docs/councils.md).",
        f"- Replies cut off at the token limit (scored questions): {cut}.", "",
        "A weighted vote weighs each reply by exp(its mean token log-prob); a counted vote weighs each 1. "
        "A tie for the most weight is a split with no answer (counted wrong). Agreement is the winning "
        "answer's share of the weight (or count); ECE over 5 bins. p is exact McNemar against the best single "
        "persona on the same questions.", "",
        study_table(report), ""])


def plot_study(report: StudyReport, path: Path) -> Path:
    """A bar per method: accuracy with its 95% interval."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingExtraError("matplotlib", "bench", "the study's plot") from exc
    rows = list(report.rows)
    figure = Figure(figsize=(10, 0.45 * len(rows) + 1.5), dpi=120, layout="constrained")
    axes = figure.subplots()
    colours = {"single": "tab:blue", "persona": "tab:gray", "weighted": "tab:green", "counted": "tab:olive",
               "oracle": "tab:purple"}
    for y, r in enumerate(reversed(rows)):
        accuracy = 100 * r.correct / r.n
        axes.barh(y, accuracy, color=colours[r.kind], alpha=0.8)
        axes.errorbar([accuracy], [y], xerr=[[accuracy - 100 * r.ci_low], [100 * r.ci_high - accuracy]],
                      fmt="none", ecolor="black", capsize=3)
    axes.set_yticks(range(len(rows)), [r.label for r in reversed(rows)], fontsize="x-small")
    axes.set_xlim(0, 100)
    axes.set_xlabel("right, % (95% Wilson interval)")
    axes.set_title(f"{report.task}: greedy personas, {report.n} questions")
    axes.grid(axis="x", alpha=0.3)
    figure.savefig(path, format="png")
    return path


def write_study(report: StudyReport, out: Path) -> list[Path]:
    """Write report.md, report.json and accuracy.png into out."""
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "report.md", out / "report.json"
    md.write_text(study_markdown(report), encoding="utf-8")
    js.write_text(json.dumps(report.model_dump(exclude={"plan": {"pilot"}}), indent=1), encoding="utf-8")
    return [md, js, plot_study(report, out / "accuracy.png")]
