"""Majority voting over extracted answers."""

from __future__ import annotations

from livemind.evaluation.voting import majority_vote


def test_the_most_common_answer_wins() -> None:
    assert majority_vote([3, 7, 7, 3, 7]) == 7


def test_replies_without_an_answer_do_not_vote() -> None:
    assert majority_vote([None, None, None, 5]) == 5


def test_no_answer_at_all_means_no_vote() -> None:
    assert majority_vote([None, None]) is None
    assert majority_vote([]) is None


def test_a_tie_goes_to_the_answer_seen_first() -> None:
    assert majority_vote([None, -4, 9, 9, -4]) == -4
