"""`livemind eval --rescore`: a stored run read again by today's extraction, without running a model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from livemind.cli.main import main
from livemind.errors import InvalidRequestError
from livemind.evaluation.report import build_report, render_markdown
from livemind.evaluation.rescore import rescore
from livemind.evaluation.results import EvalSettings
from livemind.evaluation.runner import EvalRunner
from livemind.evaluation.scoring import score_run
from livemind.evaluation.store import RunStore
from tests.evaluation.conftest import ScriptedCouncil

COUNCIL = ("alpha", "beta", "gamma")
SETTINGS = EvalSettings(n=3, seed=4, rounds=1, experts=COUNCIL, best_expert="alpha")


def _stored_run(scripted_council: Callable[..., ScriptedCouncil], out: Path) -> RunStore:
    """A finished run whose second debate was judged by an older rule: it could not read a verdict-only synthesis."""
    store = RunStore(out)
    EvalRunner(scripted_council().mind, SETTINGS, store=store).run()
    kept = store.question(1)
    assert kept is not None
    synthesis = f"Verdict: The council counts {kept.problem.answer} in all.\nBecause: both experts agree."
    old_reading = kept.debate.reply.model_copy(update={"text": synthesis, "extracted": None,
                                                       "failure": "no answer found"})
    store.save_question(1, kept.model_copy(update={"debate": kept.debate.model_copy(update={"reply": old_reading})}))
    return store


def test_a_stored_run_is_read_again_and_only_what_the_rule_now_reads_changes(
        scripted_council: Callable[..., ScriptedCouncil], tmp_path: Path) -> None:
    source = _stored_run(scripted_council, tmp_path / "old")
    before = [source.question(i) for i in range(SETTINGS.n)]
    run = rescore(tmp_path / "old", tmp_path / "new")
    assert run.rescored is not None and run.rescored.changed == 1
    # single, every sample, and select, selective and debate's final replies; vote is the first answers' majority
    assert run.rescored.replies == sum(1 + len(p.samples) + 3 for p in before if p is not None)
    assert run.problems[1].debate.reply.extracted == run.problems[1].problem.answer
    for old, new in zip(before, run.problems, strict=True):  # everything else is as it was judged
        assert old is not None
        assert new.single == old.single and new.samples == old.samples and new.vote == old.vote
        assert new.select == old.select and new.selective == old.selective
    assert [s.accuracy for s in score_run(run)][-1] == 1.0  # debate: 3 of 3 now
    assert RunStore(tmp_path / "new").question(1) == run.problems[1]
    assert source.question(1) == before[1], "the original run stays as it was run"
    assert "**Re-read** from the run in" in render_markdown(build_report(run))


def test_rescore_refuses_an_unfinished_run_its_own_folder_and_a_folder_in_use(
        scripted_council: Callable[..., ScriptedCouncil], tmp_path: Path) -> None:
    _stored_run(scripted_council, tmp_path / "old")
    with pytest.raises(InvalidRequestError, match="same folder"):
        rescore(tmp_path / "old", tmp_path / "old")
    rescore(tmp_path / "old", tmp_path / "again")
    with pytest.raises(InvalidRequestError, match="already holds an eval run"):
        rescore(tmp_path / "old", tmp_path / "again")
    (tmp_path / "old" / "run" / "questions" / "002.json").unlink()
    with pytest.raises(InvalidRequestError, match="has not finished question 3 of 3") as caught:
        rescore(tmp_path / "old", tmp_path / "third")
    assert "run its own `livemind eval` command again" in (caught.value.hint or "")
    with pytest.raises(InvalidRequestError, match="holds no eval run"):
        rescore(tmp_path / "nothing", tmp_path / "fourth")


def test_the_command_line_rescores_without_loading_a_model_and_writes_the_report(
        scripted_council: Callable[..., ScriptedCouncil], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _stored_run(scripted_council, tmp_path / "old")
    assert main(["eval", "--rescore", str(tmp_path / "old"), "--out", str(tmp_path / "new"),
                 "--config", str(tmp_path / "no-such-config.toml")]) == 0  # no config or model is read
    assert {"report.md", "report.json", "accuracy_vs_tokens.png"} <= {f.name for f in (tmp_path / "new").iterdir()}
    assert "| debate" in capsys.readouterr().out
    assert main(["eval", "--rescore", str(tmp_path / "old"), "--reuse", str(tmp_path / "old"),
                 "--out", str(tmp_path / "other")]) != 0
    assert "pick one" in capsys.readouterr().err


def test_a_vote_the_old_rule_gave_to_the_first_answer_is_re_counted_as_a_split(
        scripted_council: Callable[..., ScriptedCouncil], tmp_path: Path) -> None:
    store = RunStore(tmp_path / "old")
    EvalRunner(scripted_council().mind, SETTINGS, store=store).run()
    kept = store.question(0)
    assert kept is not None
    key = kept.problem.answer
    first = [p for p in kept.vote.positions if p.round == 0]
    tied = [first[0].model_copy(update={"extracted": key}), first[1].model_copy(update={"extracted": key + 1}),
            *(p.model_copy(update={"extracted": None}) for p in first[2:])]
    old_vote = kept.vote.model_copy(update={"positions": tuple(tied), "first_vote": key,  # the first-listed won the tie
                                            "reply": kept.vote.reply.model_copy(update={"extracted": key})})
    store.save_question(0, kept.model_copy(update={"vote": old_vote}))
    run = rescore(tmp_path / "old", tmp_path / "new")
    assert run.rescored is not None and run.rescored.splits == 1 and run.rescored.changed == 0
    vote = run.problems[0].vote
    assert vote.reply.extracted is None and vote.first_vote is None
    assert vote.reply.failure == f"split: {key}, {key + 1} tied"
    scores = {s.method: s for s in build_report(run).scores}
    assert scores["vote"].correct == SETTINGS.n - 1 and scores["vote"].splits == 1


COMMITTED = Path(__file__).parent.parent.parent / "docs" / "eval"


def test_the_committed_word_run_read_by_one_rule_gives_the_single_expert_16_and_debate_p_0125(tmp_path: Path) -> None:
    # the run once read the single expert's prose answers (002: "**33**.", 011: "**51 dollars** left.") as no
    # answer while it read the synthesiser's Verdict line: 14 against 20, p = 0.031
    run = rescore(COMMITTED / "word-verdict", tmp_path / "fair")
    report = build_report(run)
    scores = {s.method: s for s in report.scores}
    assert scores["single"].correct == 16 and scores["debate"].correct == 20
    versus = next(c for c in report.verdict.comparisons if (c.council, c.baseline) == ("debate", "single"))
    assert (versus.council_only, versus.baseline_only, versus.p_value) == (4, 0, 0.125)
    assert versus.outcome == "no significant difference"
    # question 1's selective synthesis used all 300 of its tokens (809 less the first round's 509) and stops in
    # mid-working at "= 38 rolls": a cut-off reply gets no fallback, whichever method wrote it
    cut = run.problems[0].selective.reply
    assert cut.is_cut_off is True and cut.extracted is None and scores["selective"].correct == 19


def test_a_select_whose_most_consistent_experts_tied_on_different_answers_is_re_counted_as_a_split(
        scripted_council: Callable[..., ScriptedCouncil], tmp_path: Path) -> None:
    store = RunStore(tmp_path / "old")
    EvalRunner(scripted_council().mind, SETTINGS, store=store).run()
    kept = store.question(2)
    assert kept is not None and kept.select.synthesizer.startswith("select: ")
    winner, key = kept.select.synthesizer.removeprefix("select: "), kept.problem.answer
    # every expert agreed with itself on every sample; now one rival does so on another answer
    rival = next(p.expert for p in kept.select.positions if p.expert != winner)
    positions = tuple(p.model_copy(update={"extracted": key + 1 if p.expert == rival else key})
                      for p in kept.select.positions)
    store.save_question(2, kept.model_copy(update={"select": kept.select.model_copy(update={"positions": positions})}))
    run = rescore(tmp_path / "old", tmp_path / "new")
    assert run.rescored is not None and run.rescored.splits == 1
    select = run.problems[2].select
    assert select.reply.extracted is None and select.reply.failure is not None
    assert select.reply.failure.startswith("split: ") and rival in select.reply.failure
