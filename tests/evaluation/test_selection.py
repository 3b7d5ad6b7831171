"""Choosing the best single expert from a held-out pilot, with the router as tie-breaker."""

from __future__ import annotations

from livemind.evaluation.results import PilotScore
from livemind.evaluation.selection import choose_best_expert, most_common


def _pilot(**correct: int) -> list[PilotScore]:
    return [PilotScore(expert=name, correct=c, n=5, tokens=100) for name, c in correct.items()]


def test_the_pilot_winner_is_the_best_expert() -> None:
    choice = choose_best_expert(_pilot(generalist=1, mathematician=4, coder=2), "generalist", "20 of the 30 questions")
    assert choice.expert == "mathematician" and choice.how == "pilot"
    assert "held-out" in choice.reason


def test_a_pilot_tie_goes_to_the_router_pick() -> None:
    choice = choose_best_expert(_pilot(generalist=3, mathematician=1, coder=3), "coder", "20 of the 30 questions")
    assert choice.expert == "coder"
    assert "tied with generalist" in choice.reason and "router" in choice.reason


def test_a_pilot_with_no_right_answer_falls_back_to_the_router() -> None:
    choice = choose_best_expert(_pilot(generalist=0, mathematician=0), "mathematician", "27 of the 30 questions")
    assert choice.expert == "mathematician" and choice.how == "router"
    assert "27 of the 30 questions" in choice.reason and len(choice.pilot) == 2


def test_without_a_pilot_the_router_pick_stands() -> None:
    choice = choose_best_expert([], "coder", "30 of the 30 questions")
    assert choice.expert == "coder" and choice.how == "router" and choice.pilot == ()


def test_most_common_counts_and_breaks_ties_by_first_seen() -> None:
    assert most_common(["b", "a", "a", "b", "c"]) == ("b", 2)
    assert most_common([("x", "y"), ("y", "x"), ("y", "x")]) == (("y", "x"), 2)
