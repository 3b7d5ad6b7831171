"""The eval report: scores, conformity and verdict, written as Markdown, JSON and a PNG plot."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from livemind.evaluation.calibration import Calibration, calibrate
from livemind.evaluation.conformity import Conformity, measure_conformity
from livemind.evaluation.plot import plot_accuracy_vs_tokens
from livemind.evaluation.results import COUNCIL_METHODS, METHOD_ORDER, EvalRun, MethodKey
from livemind.evaluation.scoring import MethodOutcome, MethodScore, method_outcomes, sample_accuracy, score_run
from livemind.evaluation.tasks import task_family
from livemind.evaluation.temperature import TEMPERATURE_RULE, describe
from livemind.evaluation.verdict import Verdict, judge
from livemind.evaluation.voting import TIE_RULE
from livemind.types import Value

MARKDOWN_NAME = "report.md"
JSON_NAME = "report.json"
PLOT_NAME = "accuracy_vs_tokens.png"
STOP_KINDS = (("agreement", "agreement"), ("reached the maximum", "the round limit"),
              ("no expert changed", "no change between rounds"), ("quorum lost", "quorum lost"), ("failed", "failure"))
SHORT_NAMES: dict[MethodKey, str] = {"single": "single", "single_sampled": "single (T)", "vote": "vote",
                                     "sc_vote": "SC (vote)", "select": "select",
                                     "sc_select": "SC (select)", "selective": "selective",
                                     "sc_selective": "SC (sel.)", "debate": "debate", "sc_debate": "SC (debate)"}


class EvalReport(Value):
    """Everything the report shows, as one value (report.json is its JSON form)."""

    run: EvalRun
    scores: tuple[MethodScore, ...]
    outcomes: dict[MethodKey, tuple[MethodOutcome, ...]]
    conformity: Conformity
    verdict: Verdict
    calibration: tuple[Calibration, ...] = ()


@dataclass(frozen=True)
class ReportFiles:
    """Where a report was written."""

    markdown: Path
    json: Path
    plot: Path


def build_report(run: EvalRun) -> EvalReport:
    """Score every method, count debate conformity and write the verdict."""
    outcomes = method_outcomes(run)
    scores = score_run(run)
    conformity = measure_conformity(run.problems)
    verdict = judge(run, scores, outcomes, conformity)
    calibration = tuple(calibrate(kind, outcomes[kind]) for kind in COUNCIL_METHODS)
    return EvalReport(run=run, scores=scores, outcomes={m: tuple(o) for m, o in outcomes.items()},
                      conformity=conformity, verdict=verdict, calibration=calibration)


def score_table(scores: tuple[MethodScore, ...]) -> str:
    """The Markdown table of methods: accuracy with CI, unanswered (ties among them), tokens both ways as totals and
    per question, wall time, accuracy per 1k generated tokens."""
    rows = ["| method | correct | accuracy (95% CI) | no answer (ties) | generated tokens: total (a question) | "
            "prompt tokens: total (a question) | wall time | correct / 1k generated tokens |",
            "|---|---:|---|---:|---:|---:|---:|---:|"]
    for s in scores:
        n = max(s.n, 1)
        rows.append(f"| {s.label} | {s.correct}/{s.n} | {100 * s.accuracy:.1f}% "
                    f"({100 * s.ci_low:.1f}–{100 * s.ci_high:.1f}) | {s.unanswered} ({s.splits}) | "
                    f"{s.tokens:,} ({s.tokens / n:.0f}) | {s.prompt_tokens:,} ({s.prompt_tokens / n:.0f}) | "
                    f"{s.seconds:.0f} s | {s.correct_per_1k_tokens:.2f} |")
    return "\n".join(rows)


def _setup_lines(report: EvalReport) -> list[str]:
    run = report.run
    s = run.settings
    lines = [
        f"- Task: **{s.task}**, {task_family(s.task).description}; {s.n} questions, seed {s.seed}.",
        f"- Every reply is capped at {s.max_tokens} generated tokens. Every reply, whichever method wrote it, is read "
        f"by the same **{s.extraction}** rule (" + (
            "an `Answer: <integer>` line only" if s.extraction == "strict" else
            "the last answer it states as an `Answer:` line, a `Conclusion:` or `Verdict:` line with one number, "
            "`\\boxed{N}` or 'the answer is N'; else, unless the reply was cut off at its token limit, its last "
            "number") + "); a reply with no answer counts as wrong, and the *no answer* column counts them per method.",
        f"- {TIE_RULE}",
        f"- Best single expert: **{run.choice.expert}** ({run.choice.how}): {run.choice.reason}.",
        f"- Council: **{', '.join(run.council)}** ({run.council_reason}); synthesiser **{run.synthesizer}**; "
        f"debate runs {s.rounds} revision round(s) after the first answers; selective debate runs them only when "
        f"the first answers differ; select samples {s.samples} answers per expert; vote is the selective debate's "
        "first round, majority-voted (the same prompts and seeds `strategy=\"vote\"` runs).",
        _sampling_line(run),
        "- Models: " + ", ".join(f"{e} → {m}" for e, m in run.models.items()) + ".",
        f"- Total wall time {run.total_seconds:.0f} s, of which choosing the expert took {run.pilot_seconds:.0f} s "
        f"({run.pilot_tokens:,} pilot tokens, not counted in any method). Started {run.started_at}.",
        f"- Samples of one model are drawn {s.batch} at a time, so the engine decodes them as one batch; a sample's "
        "seconds are its batch's wall time shared out.",
    ]
    lines.append(f"- Debate prompts use the **{s.transcript}** transcript layout" + (
        ": every expert's prompt starts with the question and every round's answers, the persona last "
        "(so vote, which reads the first round, changes too)." if s.transcript == "shared" else
        ": each expert reads its own persona first, then the others' answers."))
    if s.reuse:
        reused = sum(bool(p.reused) for p in run.problems)
        lines.append(f"- The single expert's answers, select and the self-consistency samples of {reused} of "
                     f"{len(run.problems)} questions were taken from the run in `{s.reuse}` (same questions, seeds "
                     "and settings; the layout does not touch them); more samples were drawn where the budget needed them.")
    if run.rescored is not None:
        r = run.rescored
        lines.append(f"- **Re-read** from the run in `{r.source}` by the current reading and tie rules, no model run "
                     f"(`livemind eval --rescore`): {r.changed} of {r.replies} final replies read differently, and "
                     f"{r.splits} vote or select answers are now ties with no answer. The debate positions (so vote's "
                     "first answers and select's samples) keep the values their run extracted, since their texts are "
                     "not stored; vote and select are counted again over those values. The parts below are that run's.")
    for part in run.parts:
        where = f" on {part.machine}" if part.machine else ""
        lines.append(f"- Part {part.index}: started {part.started_at}{where}, {part.seconds:.0f} s, "
                     f"{part.questions} question(s) answered.")
    selective = [p.selective for p in run.problems]
    triggered = sum(bool(c.debate_triggered) for c in selective)
    lines.append(f"- Selective debate was triggered on {triggered} of {len(selective)} questions (first answers "
                 "differed); on the others the first answers agreed and went straight to synthesis.")
    stops = Counter(_stop_kind(p.debate.stop_reason) for p in run.problems)
    lines.append("- Full debates stopped on " + ", ".join(f"{kind} ({count})" for kind, count in stops.most_common())
                 + ".")
    if run.choice.pilot:
        pilot = "; ".join(f"{p.expert} {p.correct}/{p.n}" for p in run.choice.pilot)
        lines.append(f"- Pilot on held-out questions (greedy): {pilot}.")
    return lines


def _stop_kind(reason: str) -> str:
    """A debate's stop reason without its numbers, so equal reasons count together."""
    for prefix, kind in STOP_KINDS:
        if reason.startswith(prefix):
            return kind
    return reason or "unknown"


def _budget_table(report: EvalReport) -> str:
    rows = ["| council method | council generated | voting k | voting generated | gap | within tolerance | "
            "council prompt | voting prompt at k | council total | voting total at k | k to match prompt tokens "
            "(no cache) | k to match total tokens |",
            "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for b in report.run.budgets:
        rows.append(f"| {b.against} | {b.target_tokens:,} | {b.k} | {b.tokens:,} | {100 * b.relative_gap:+.1f}% | "
                    f"{'yes' if b.is_within_tolerance else 'NO'} (±{100 * b.tolerance:.0f}%) | "
                    f"{b.target_prompt_tokens:,} | {b.prompt_tokens:,} | {b.target_total_tokens:,} | "
                    f"{b.total_tokens:,} | {b.k_for_prompt} | {b.k_for_total or '—'} |")
    return "\n".join(rows)


def _target_lines(report: EvalReport) -> list[str]:
    return [f"- {'MET' if t.is_met else 'NOT MET'}: {t.name}: {t.detail}." for t in report.verdict.targets]


def _calibration_lines(report: EvalReport) -> list[str]:
    rows = ["| strategy | mean agreement | unanimous: right | accuracy (95% CI) | split: right | accuracy (95% CI) | "
            "ECE |", "|---|---:|---:|---|---:|---|---:|"]
    for c in report.calibration:
        cells = []
        for band in (c.high, c.low):
            cells.append(f"{band.correct}/{band.n} | " + (f"{100 * band.accuracy:.0f}% ({100 * band.ci_low:.0f}–"
                                                          f"{100 * band.ci_high:.0f})" if band.n else "—"))
        rows.append(f"| {c.method} | {c.mean_agreement:.2f} | {cells[0]} | {cells[1]} | {c.ece:.3f} |")
    return rows


def _conformity_lines(c: Conformity) -> list[str]:
    return [
        "| transitions | right → wrong | wrong → right | right → right | wrong → wrong | answer changed |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {c.transitions} | {c.right_to_wrong} | {c.wrong_to_right} | {c.right_to_right} | {c.wrong_to_wrong} | "
        f"{c.changed_answer} |",
        "",
        f"Of the answers that were right, {100 * c.right_to_wrong_rate:.0f}% turned wrong in the next round; "
        f"of those that were wrong, {100 * c.wrong_to_right_rate:.0f}% turned right.",
    ]


def _sampling_line(run: EvalRun) -> str:
    """How self-consistency and the council sample, and the single expert's like-with-like baseline."""
    s = run.settings
    return (f"- Self-consistency samples {run.choice.expert} at temperature {run.sampling_temperature} "
            + (f"(chosen on the pilot: {describe(run.sc_pilot)}; the rule: {TEMPERATURE_RULE}) " if run.sc_pilot else "")
            + f"and majority-votes the extracted answers; its samples alone are right {_sample_share(run)}. "
            + ("The council experts keep their configured sampling; the single expert is measured both greedy and "
               "sampled at its own council temperature, so each council method can be compared like with like."
               if s.council_temperature is None else
               f"The council experts answer at temperature {s.council_temperature} (--council-temperature; select "
               "samples apart)."))


def _sample_share(run: EvalRun) -> str:
    right, n = sample_accuracy(run)
    return f"{right} times of {n} ({100 * right / n:.0f}%)" if n else "never (no samples)"


def _cell(outcome: MethodOutcome) -> str:
    shown = "—" if outcome.predicted is None else str(outcome.predicted)
    return f"{shown} {'✓' if outcome.is_correct else '✗'}"


def _question_table(report: EvalReport) -> list[str]:
    methods = [m for m in METHOD_ORDER if m in report.outcomes]
    header = "| # | question | key | " + " | ".join(SHORT_NAMES[m] for m in methods) + " |"
    rows = [header, "|---:|---|---:|" + "---|" * len(methods)]
    for i, p in enumerate(report.run.problems):
        question = p.problem.question.replace("|", "\\|")
        cells = " | ".join(_cell(report.outcomes[m][i]) for m in methods)
        rows.append(f"| {i + 1} | {question} | {p.problem.answer} | {cells} |")
    return rows


def render_markdown(report: EvalReport) -> str:
    """The human-readable report."""
    s = report.run.settings
    parts = [
        f"# LiveMind eval: {s.task}, {s.n} questions, seed {s.seed}",
        "",
        f"**Verdict: {report.verdict.headline}**",
        "",
        *[f"- {sentence}" for sentence in report.verdict.sentences],
        "",
        "## Targets",
        "",
        *_target_lines(report),
        "",
        score_table(report.scores),
        "",
        f"![accuracy against tokens]({PLOT_NAME})",
        "",
        "## Setup",
        "",
        *_setup_lines(report),
        "",
        "## Same-budget matching",
        "",
        "Self-consistency's k is matched on **generated tokens only**: it is the number of samples per question "
        "whose generated tokens, summed over all questions, come closest to the council method's. Prompt tokens are "
        "counted beside them, as the engine processed them, and are not matched: a sample repeats its question's "
        "prompt, which the KV cache then reuses, so self-consistency's prompt tokens are nearly free while a debate's "
        "revision prompts are not. The last two columns are the k at which self-consistency would read as many "
        "prompt tokens as the council with no cache at all, and the k at which its generated and processed prompt "
        "tokens together would reach the council's total (at its mean tokens per sample); they are computed, not drawn "
        "and scored.",
        "",
        _budget_table(report),
        "",
        "## Does agreement predict a right answer?",
        "",
        "Agreement is the share of the council on its answer (select: the winning expert's self-consistency). "
        "ECE is the expected calibration error over 5 equal-width bins (0 is perfect).",
        "",
        *_calibration_lines(report),
        "",
        "## Debate conformity",
        "",
        *_conformity_lines(report.conformity),
        "",
        "## Per question",
        "",
        "Extracted answer and ✓/✗ per method; — means no answer: none could be read, or a vote tied.",
        "",
        *_question_table(report),
        "",
    ]
    return "\n".join(parts)


def write_report(report: EvalReport, out_dir: Path) -> ReportFiles:
    """Write report.md, report.json and accuracy_vs_tokens.png into out_dir (created if needed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(markdown=out_dir / MARKDOWN_NAME, json=out_dir / JSON_NAME, plot=out_dir / PLOT_NAME)
    s = report.run.settings
    plot_accuracy_vs_tokens(report.scores, files.plot, title=f"LiveMind eval: {s.task}, n={s.n}, seed {s.seed}")
    files.json.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    files.markdown.write_text(render_markdown(report), encoding="utf-8")
    return files
