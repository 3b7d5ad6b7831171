"""`livemind eval --rescore FROM --out DIR`: a stored run read again by today's rules, no model loaded.

A finished run keeps every method's final reply text (OUT/run/questions/NNN.json). When the
reading rule or the tie rule changes, the run's figures can be brought up to date without
spending hours generating the same replies again:

    FROM/run  ──  every final reply judged again (single, self-consistency samples, select,
                  selective debate, debate) by `read_reply`, and every vote counted again
                  by the tie rule (vote, select, self-consistency)  ──►  DIR/run + report

What cannot be re-read: the debate positions (first answers, revisions) keep the values their
run extracted, since the eval folder stores their verdicts, not their texts. So `vote`, the
majority of the first answers, is counted again by today's tie rule over the values its run
read; and `select`'s choice is checked against the tie rule over its samples' stored values (an
expert whose samples were compared by embedding similarity cannot tie exactly, and keeps the
run's choice). Whether a council's final reply was cut off is known for runs that recorded it,
worked out where the stored tokens allow (`_council_cut_off`), and otherwise taken as finished.
The report says the run was re-read, from where, how many replies changed and how many votes
the tie rule now calls a split.
"""

from __future__ import annotations

from pathlib import Path

from livemind.council.strategies import count_votes
from livemind.errors import InvalidRequestError
from livemind.evaluation.reading import is_cut_off, read_reply
from livemind.evaluation.results import (
    Attempt,
    CouncilAttempt,
    CouncilKind,
    EvalRun,
    EvalSettings,
    ProblemRun,
    Rescore,
)
from livemind.evaluation.store import RunStore, finished_run
from livemind.evaluation.voting import SPLIT_FAILURE, majority_vote, vote_failure

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
    replies = changed = splits = 0
    for index in range(plan.settings.n):
        kept = source.question(index)
        if kept is None:
            raise InvalidRequestError(
                f"{source_dir} has not finished question {index + 1} of {plan.settings.n}",
                hint="finish it first: run its own `livemind eval` command again, then re-read it")
        read = rejudged(kept, plan.settings)
        again = recounted(read)
        pairs = _replies(kept, read)
        replies += len(pairs)
        changed += sum(before.extracted != after.extracted for before, after in pairs)
        splits += sum(read.council(kind).reply.extracted is not None and again.council(kind).reply.extracted is None
                      for kind in ("vote", "select"))
        runs.append(again)
    out.save_plan(plan)
    for index, run in enumerate(runs):
        out.save_question(index, run)
    parts = source.parts()
    out.save_parts(parts)
    return finished_run(plan, runs, parts).model_copy(
        update={"rescored": Rescore(source=str(source_dir), replies=replies, changed=changed, splits=splits)})


def rejudged(run: ProblemRun, settings: EvalSettings) -> ProblemRun:
    """One question's final replies judged again under `settings.extraction` (by `read_reply`)."""

    def judge(attempt: Attempt, *, was_cut_off: bool | None) -> Attempt:
        if not attempt.text:  # an error, kept as it was recorded
            return attempt
        extraction = read_reply(attempt.text, settings.extraction, is_cut_off=bool(was_cut_off))
        return attempt.model_copy(update={"extracted": extraction.value, "failure": extraction.failure,
                                          "is_cut_off": was_cut_off})

    def own(attempt: Attempt) -> Attempt:  # an expert's own reply: cut off when it used every token it was allowed
        known = attempt.is_cut_off
        return judge(attempt, was_cut_off=is_cut_off(attempt.tokens, settings.max_tokens) if known is None else known)

    def council(kind: CouncilKind) -> CouncilAttempt:
        attempt = run.council(kind)
        return attempt.model_copy(update={"reply": judge(attempt.reply, was_cut_off=_council_cut_off(run, kind, settings))})

    return run.model_copy(update={
        "single": own(run.single), "samples": tuple(own(a) for a in run.samples), **{k: council(k) for k in RE_READ}})


def _council_cut_off(run: ProblemRun, kind: CouncilKind, settings: EvalSettings) -> bool | None:
    """Whether a council's stored final reply was cut off, where the stored tokens tell; None (read as finished) if not.

    Runs stored before `Attempt.is_cut_off` was recorded keep only the council's total tokens. A
    selective debate that did not debate and whose synthesis did not fail answered with a synthesis
    after one round of first answers, and that round is the vote's: the synthesis's own tokens
    are the difference. Select's pick and a debate's synthesis cannot be told apart this way.
    """
    attempt = run.council(kind)
    if attempt.reply.is_cut_off is not None:
        return attempt.reply.is_cut_off
    if (kind == "selective" and attempt.debate_triggered is False and attempt.synthesis_error is None
            and run.vote.positions):
        return is_cut_off(attempt.reply.tokens - run.vote.reply.tokens, settings.max_tokens)
    return None


def recounted(run: ProblemRun) -> ProblemRun:
    """One question's vote and select counted again by the tie rule (self-consistency is counted when scored)."""
    select = run.select
    if (tied := _select_tie(select)) is not None:
        select = select.model_copy(update={"reply": select.reply.model_copy(
            update={"extracted": None, "failure": f"{SPLIT_FAILURE}: {tied}"})})
    return run.model_copy(update={"vote": _vote_again(run.vote), "select": select})


def _vote_again(vote: CouncilAttempt) -> CouncilAttempt:
    """The vote of the first answers counted again by the tie rule, over the values its run read."""
    if not vote.positions:  # the selective debate failed before its first round
        return vote
    values = [p.extracted for p in vote.positions if p.round == 0]
    winner = majority_vote(values)
    return vote.model_copy(update={"first_vote": winner, "reply": vote.reply.model_copy(
        update={"extracted": winner, "failure": vote_failure(values)})})


def _select_tie(select: CouncilAttempt) -> str | None:
    """How select's stored choice was a tie that the tie rule now calls a split, or None if it was not.

    Only experts whose samples all held a number can tie: the others were compared by embedding
    similarity, a real number that does not equal a vote share.
    """
    winner = select.synthesizer.removeprefix("select: ")
    values: dict[str, list[int | None]] = {}
    for p in select.positions:
        values.setdefault(p.expert, []).append(p.extracted)
    counted = {expert: count_votes(v) for expert, v in values.items() if None not in v}
    mine = counted.get(winner)
    if mine is None:
        return None
    if mine.is_split:
        return f"{winner}'s own samples tied ({', '.join(map(str, mine.tied))})"
    rivals = [e for e, t in counted.items() if e != winner and t.share == mine.share and t.winner != mine.winner]
    if rivals:
        return f"{winner} and {', '.join(rivals)} agree equally often with themselves, on different answers"
    return None


def _replies(before: ProblemRun, after: ProblemRun) -> list[tuple[Attempt, Attempt]]:
    pairs = [(before.single, after.single), *zip(before.samples, after.samples, strict=True)]
    return pairs + [(before.council(kind).reply, after.council(kind).reply) for kind in RE_READ]
