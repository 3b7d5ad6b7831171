"""EvalRunner over scripted models: every method runs on every question, choices are honest, failures are wrong."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from livemind.errors import EngineError, InvalidRequestError, UnknownExpertError
from livemind.evaluation.results import EvalSettings
from livemind.evaluation.runner import EvalRunner
from livemind.evaluation.scoring import score_run
from tests.evaluation.conftest import EXPERTS, ScriptedCouncil, Turn

COUNCIL = ("alpha", "beta", "gamma")


def test_every_method_answers_every_question_and_right_models_score_full_marks(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    council = scripted_council()
    run = EvalRunner(council.mind, EvalSettings(n=4, seed=1, rounds=2, experts=COUNCIL, best_expert="alpha")).run()
    assert len(run.problems) == 4
    for p in run.problems:
        assert p.single.extracted == p.problem.answer
        assert p.consensus.reply.extracted == p.debate.reply.extracted == p.problem.answer
        assert p.samples and all(a.extracted == p.problem.answer for a in p.samples)
        assert p.debate.session_id and p.debate.session_id != p.consensus.session_id
    assert [s.accuracy for s in score_run(run)] == [1.0] * 5


def test_debate_positions_are_judged_in_every_round(scripted_council: Callable[..., ScriptedCouncil]) -> None:
    def alpha_learns(turn: Turn) -> int | None:
        if turn.expert == "alpha" and turn.kind == "first":
            return (turn.key or 0) + 5
        return turn.key

    run = EvalRunner(scripted_council(alpha_learns).mind,
                     EvalSettings(n=3, seed=4, rounds=2, experts=COUNCIL, best_expert="beta")).run()
    for p in run.problems:
        rounds = {pos.round for pos in p.debate.positions}
        assert rounds == set(range(p.debate.rounds + 1))
        first = {pos.expert: pos for pos in p.debate.positions if pos.round == 0}
        assert not first["alpha"].is_correct and first["beta"].is_correct
        later = [pos for pos in p.debate.positions if pos.expert == "alpha" and pos.round == 1]
        assert later and later[0].is_correct


def test_a_question_whose_generation_fails_counts_as_wrong_and_the_run_goes_on(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    broken: set[int | None] = set()

    def first_greedy_breaks(turn: Turn) -> int | None:
        if turn.temperature == 0.0 and not broken:
            broken.add(turn.key)
            raise EngineError("scripted engine crash")
        return turn.key

    run = EvalRunner(scripted_council(first_greedy_breaks).mind,
                     EvalSettings(n=3, seed=9, rounds=1, experts=COUNCIL, best_expert="gamma")).run()
    failed = run.problems[0].single
    assert failed.extracted is None and failed.failure == "error: scripted engine crash"
    assert all(p.single.extracted == p.problem.answer for p in run.problems[1:])


def test_the_pilot_picks_the_expert_that_is_right_on_held_out_questions(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    def only_gamma(turn: Turn) -> int | None:
        return turn.key if turn.expert == "gamma" else None

    council = scripted_council(only_gamma)
    run = EvalRunner(council.mind, EvalSettings(n=2, seed=0, rounds=1, experts=COUNCIL, pilot_n=3)).run()
    assert run.choice.expert == "gamma" and run.choice.how == "pilot"
    assert [(p.expert, p.correct, p.n) for p in run.choice.pilot] == [("alpha", 0, 3), ("beta", 0, 3), ("gamma", 3, 3)]
    assert run.pilot_tokens == sum(p.tokens for p in run.choice.pilot) > 0


def test_without_experts_the_council_is_the_routers_choice(scripted_council: Callable[..., ScriptedCouncil]) -> None:
    run = EvalRunner(scripted_council().mind, EvalSettings(n=2, seed=0, rounds=1, best_expert="alpha")).run()
    assert sorted(run.council) == sorted(EXPERTS)
    assert "router convenes it for 2 of 2 questions" in run.council_reason


def test_unknown_experts_and_a_council_of_one_are_refused(scripted_council: Callable[..., ScriptedCouncil]) -> None:
    mind = scripted_council().mind
    with pytest.raises(UnknownExpertError):
        EvalRunner(mind, EvalSettings(experts=("alpha", "nobody")))
    with pytest.raises(UnknownExpertError):
        EvalRunner(mind, EvalSettings(best_expert="nobody"))
    with pytest.raises(InvalidRequestError, match="at least two experts"):
        EvalRunner(mind, EvalSettings(experts=("alpha", "alpha")))
    with pytest.raises(InvalidRequestError, match="unknown task"):
        EvalRunner(mind, EvalSettings(task="chess"))
