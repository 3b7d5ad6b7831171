"""Majority voting over extracted answers: the self-consistency rule."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence


def majority_vote(answers: Sequence[int | None]) -> int | None:
    """The most common extracted answer; ties go to the one that appeared first.

    Replies without a well-formed answer do not vote (as in Wang et al.'s self-consistency);
    when none of them has one, there is no answer.
    """
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a in answers if a is not None and counts[a] == best)
