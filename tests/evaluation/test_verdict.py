"""The plain-words verdict, from runs where the scripted council is better or worse than voting."""

from __future__ import annotations

from collections.abc import Callable

from livemind.evaluation.report import build_report
from livemind.evaluation.results import EvalSettings
from livemind.evaluation.runner import EvalRunner
from tests.evaluation.conftest import ScriptedCouncil, Turn

SETTINGS = EvalSettings(n=8, seed=2, rounds=1, max_tokens=64, experts=("alpha", "beta", "gamma"),
                        best_expert="beta")


def test_a_council_right_where_voting_is_wrong_beats_same_budget_voting(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    def council_knows(turn: Turn) -> int | None:
        return turn.key if turn.kind == "synthesis" else (turn.key or 0) + 1

    report = build_report(EvalRunner(scripted_council(council_knows).mind, SETTINGS).run())
    outcomes = {(c.council, c.baseline): c.outcome for c in report.verdict.comparisons}
    assert outcomes[("debate", "sc_debate")] == outcomes[("selective", "sc_selective")] == "better"
    assert outcomes[("vote", "sc_vote")] == "no significant difference"
    assert report.verdict.best_strategy == "selective", "as right as debate, for fewer tokens"
    assert report.verdict.headline.startswith("Best strategy: selective (8/8 (100%)) against the best single expert's 0/8")
    beats, holds, _ = report.verdict.targets
    assert beats.is_met and holds.is_met


def test_voting_right_where_the_council_is_wrong_means_the_council_did_not_beat_it(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    def council_errs(turn: Turn) -> int | None:
        return (turn.key or 0) - 1 if turn.kind == "synthesis" else turn.key

    report = build_report(EvalRunner(scripted_council(council_errs).mind, SETTINGS).run())
    debate = next(c for c in report.verdict.comparisons if c.council == "debate" and c.baseline == "sc_debate")
    assert debate.outcome == "worse" and debate.baseline_correct == 8 and debate.council_correct == 0
    assert any("self-consistency is better" in s for s in report.verdict.sentences)
    assert report.verdict.best_strategy == report.verdict.best_per_token == "vote"
    beats, _, keeps = report.verdict.targets
    assert not beats.is_met and "+0 points" in beats.detail
    assert not keeps.is_met


def test_models_that_never_answer_are_called_too_weak_to_tell(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    report = build_report(EvalRunner(scripted_council(lambda turn: None).mind, SETTINGS).run())
    assert report.verdict.is_too_weak_to_tell
    assert "too small for this task" in report.verdict.sentences[0]
    assert all(s.correct == 0 and s.unanswered == s.n for s in report.scores)
    assert not report.verdict.targets[0].is_met
