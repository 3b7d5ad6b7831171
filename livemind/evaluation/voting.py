"""Majority voting over extracted answers: the self-consistency rule, and the eval's count of a council's vote.

It is the council's own rule (`livemind.council.strategies.count_votes`), so a vote is counted the
same way wherever it is counted: replies without an answer do not vote (as in Wang et al.'s
self-consistency), the most common answer wins, and a tie for the most is a split with no answer,
whatever order the answers came in.
"""

from __future__ import annotations

from collections.abc import Sequence

from livemind.council.strategies import count_votes

TIE_RULE = ("A tie for the most votes is a split and gives no answer (it counts as wrong and as unanswered), "
            "in every vote: the council's vote of its first answers, select's choice of the most self-consistent "
            "expert, and self-consistency's majority. No tied answer is preferred, so the order in which answers "
            "are listed cannot decide.")
"""The tie rule as the eval report states it."""
SPLIT_FAILURE = "split"
"""How an answer that a tie left empty begins its `failure` ("split: 12, 13 tied")."""


def majority_vote(answers: Sequence[int | None]) -> int | None:
    """The most common extracted answer; None when there is none or when two or more tie for the most."""
    return count_votes(answers).winner


def vote_failure(answers: Sequence[int | None], confidences: Sequence[float | None] | None = None) -> str | None:
    """Why a vote of these answers gives none (a split, or no answer to count), or None when it gives one."""
    counted = count_votes(answers, confidences)
    if counted.winner is not None:
        return None
    if counted.is_split:
        return f"{SPLIT_FAILURE}: {', '.join(map(str, counted.tied))} tied"
    return "no answer held a number"


def is_split(failure: str | None) -> bool:
    """Whether a recorded failure is a tie the vote rule left without an answer."""
    return (failure or "").startswith(SPLIT_FAILURE)
