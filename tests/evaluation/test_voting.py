"""Majority voting over extracted answers: the council's own count, ties included."""

from __future__ import annotations

from itertools import permutations

from livemind.evaluation.voting import TIE_RULE, is_split, majority_vote, vote_failure


def test_the_most_common_answer_wins() -> None:
    assert majority_vote([3, 7, 7, 3, 7]) == 7


def test_replies_without_an_answer_do_not_vote() -> None:
    assert majority_vote([None, None, None, 5]) == 5


def test_no_answer_at_all_means_no_vote() -> None:
    assert majority_vote([None, None]) is None
    assert majority_vote([]) is None
    assert vote_failure([None, None]) == "no answer held a number"


def test_a_tie_for_the_most_is_a_split_with_no_answer_in_every_order() -> None:
    # it used to go to the answer seen first: -4 here, 9 with the list reversed
    for order in permutations([None, -4, 9, 9, -4]):
        assert majority_vote(order) is None
        assert vote_failure(order) == "split: -4, 9 tied" and is_split(vote_failure(order))
    for order in permutations([None, -4, 9, 9, -4, 9]):
        assert majority_vote(order) == 9 and vote_failure(order) is None


def test_the_tie_rule_is_stated_in_words_the_report_can_print() -> None:
    assert "tie" in TIE_RULE and "order" in TIE_RULE and "no answer" in TIE_RULE
