"""`livemind eval --rescore FROM --out DIR`: a stored run read again by today's extraction, no model loaded.

A finished run keeps every method's final reply text (OUT/run/questions/NNN.json). When the
extraction learns a form the models really write (the synthesiser's `Verdict:` line, say), the
run's figures can be brought up to date without spending hours generating the same replies again:

    FROM/run  ──  every final reply judged again (single, self-consistency samples, select,
                  selective debate, debate) under the run's own rule  ──►  DIR/run + report

What is not re-read: `vote`'s answer is the majority of the first answers' extracted values, and
the debate positions (first answers, revisions) keep the values their run extracted, since the
eval folder stores their verdicts, not their texts. The report says the run was re-read, from
where, and how many replies changed.
"""

from __future__ import annotations

from pathlib import Path

from livemind.council.extraction import extract_answer
from livemind.errors import InvalidRequestError
from livemind.evaluation.results import (
    Attempt,
    CouncilAttempt,
    CouncilKind,
    EvalRun,
    EvalSettings,
    ProblemRun,
    Rescore,
)
from livemind.evaluation.runner import finished_run
from livemind.evaluation.store import RunStore

RE_READ: tuple[CouncilKind, ...] = ("select", "selective", "debate")
"""The council methods whose final reply is a text to read (vote's is the first answers' majority)."""


def rescore(source_dir: Path, out_dir: Path) -> EvalRun:
    """Judge every stored final reply of the run in `source_dir` again; keep the result in `out_dir`."""
    if source_dir.resolve() == out_dir.resolve():
        raise InvalidRequestError("--rescore and --out name the same folder",
                                  hint="write the re-read run to a new --out; the original stays as it was run")
    source, out = RunStore(source_dir), RunStore(out_dir)
    plan = source.saved_plan()
    if plan is None:
        raise InvalidRequestError(f"{source_dir} holds no eval run (no run/plan.json)",
                                  hint="--rescore takes the --out folder of an earlier `livemind eval`")
    if out.saved_plan() is not None:
        raise InvalidRequestError(f"{out_dir} already holds an eval run", hint="pass a new --out")
    runs: list[ProblemRun] = []
    replies = changed = 0
    for index in range(plan.settings.n):
        kept = source.question(index)
        if kept is None:
            raise InvalidRequestError(
                f"{source_dir} has not finished question {index + 1} of {plan.settings.n}",
                hint="finish it first: run its own `livemind eval` command again, then re-read it")
        again = rejudged(kept, plan.settings)
        pairs = _replies(kept, again)
        replies += len(pairs)
        changed += sum(before.extracted != after.extracted for before, after in pairs)
        runs.append(again)
    out.save_plan(plan)
    for index, run in enumerate(runs):
        out.save_question(index, run)
    parts = source.parts()
    out.save_parts(parts)
    return finished_run(plan, runs, parts).model_copy(
        update={"rescored": Rescore(source=str(source_dir), replies=replies, changed=changed)})


def rejudged(run: ProblemRun, settings: EvalSettings) -> ProblemRun:
    """One question's final replies judged again under `settings.extraction`."""

    def judge(attempt: Attempt, *, is_cut_off: bool) -> Attempt:
        if not attempt.text:  # an error, kept as it was recorded
            return attempt
        extraction = extract_answer(attempt.text, settings.extraction, is_cut_off=is_cut_off)
        return attempt.model_copy(update={"extracted": extraction.value, "failure": extraction.failure})

    def own(attempt: Attempt) -> Attempt:  # an expert's own reply: the runner read it knowing whether it was cut off
        return judge(attempt, is_cut_off=attempt.tokens >= settings.max_tokens)

    def council(attempt: CouncilAttempt) -> CouncilAttempt:  # the runner reads a council's answer as written
        return attempt.model_copy(update={"reply": judge(attempt.reply, is_cut_off=False)})

    return run.model_copy(update={
        "single": own(run.single), "samples": tuple(own(a) for a in run.samples),
        **{kind: council(run.council(kind)) for kind in RE_READ}})


def _replies(before: ProblemRun, after: ProblemRun) -> list[tuple[Attempt, Attempt]]:
    pairs = [(before.single, after.single), *zip(before.samples, after.samples, strict=True)]
    return pairs + [(before.council(kind).reply, after.council(kind).reply) for kind in RE_READ]
