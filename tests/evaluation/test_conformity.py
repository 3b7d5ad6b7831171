"""Debate conformity: right→wrong and wrong→right switches between consecutive rounds."""

from __future__ import annotations

from livemind.evaluation.conformity import measure_conformity, transitions_of
from livemind.evaluation.results import Attempt, CouncilAttempt, JudgedPosition, ProblemRun
from livemind.evaluation.tasks import generate_problems

KEY = 10


def _pos(expert: str, r: int, value: int | None) -> JudgedPosition:
    return JudgedPosition(expert=expert, round=r, extracted=value, is_correct=value == KEY)


def _run(positions: list[JudgedPosition]) -> ProblemRun:
    problem = generate_problems("arithmetic", 1, seed=0)[0].model_copy(update={"answer": KEY})
    reply = Attempt(text="", extracted=None, failure="no answer line", tokens=0, seconds=0.0)
    council = CouncilAttempt(reply=reply, session_id=None, rounds=2, stop_reason="", synthesizer="a",
                             synthesis_error=None, positions=tuple(positions))
    return ProblemRun(problem=problem, single=reply, samples=(), vote=council, select=council, selective=council,
                      debate=council)


def test_each_expert_makes_one_transition_per_pair_of_consecutive_rounds() -> None:
    positions = [_pos("a", 0, 1), _pos("b", 0, 10), _pos("a", 1, 10), _pos("b", 1, 3), _pos("a", 2, 10)]
    pairs = transitions_of(positions)
    assert sorted((x.expert, x.round, y.round) for x, y in pairs) == [("a", 0, 1), ("a", 1, 2), ("b", 0, 1)]


def test_switches_are_counted_by_direction_over_all_debates() -> None:
    first = _run([_pos("a", 0, 1), _pos("b", 0, 10), _pos("a", 1, 10), _pos("b", 1, 3)])
    second = _run([_pos("a", 0, 10), _pos("a", 1, 10), _pos("b", 0, None), _pos("b", 1, 7)])
    c = measure_conformity([first, second])
    assert c.transitions == 4
    assert (c.right_to_wrong, c.wrong_to_right, c.right_to_right, c.wrong_to_wrong) == (1, 1, 1, 1)
    assert c.changed_answer == 3
    assert c.right_to_wrong_rate == 0.5 and c.wrong_to_right_rate == 0.5


def test_an_expert_dropped_after_round_zero_makes_no_transition() -> None:
    c = measure_conformity([_run([_pos("a", 0, 10), _pos("b", 0, 2), _pos("a", 1, 10)])])
    assert c.transitions == 1 and c.right_to_right == 1
