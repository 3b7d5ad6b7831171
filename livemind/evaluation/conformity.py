"""Conformity in debate: how often an expert switched from right to wrong, or wrong to right.

Every expert that answered in two consecutive rounds makes one transition. A reply without a
well-formed answer counts as wrong, as everywhere in the eval.
"""

from __future__ import annotations

from collections.abc import Sequence

from livemind.evaluation.results import JudgedPosition, ProblemRun
from livemind.types import Value


class Conformity(Value):
    """Round-to-round transitions of the debaters' answers, summed over all questions."""

    transitions: int
    right_to_wrong: int
    wrong_to_right: int
    right_to_right: int
    wrong_to_wrong: int
    changed_answer: int

    @property
    def right_to_wrong_rate(self) -> float:
        """Of the answers that were right, the share that turned wrong in the next round."""
        right = self.right_to_wrong + self.right_to_right
        return self.right_to_wrong / right if right else 0.0

    @property
    def wrong_to_right_rate(self) -> float:
        """Of the answers that were wrong, the share that turned right in the next round."""
        wrong = self.wrong_to_right + self.wrong_to_wrong
        return self.wrong_to_right / wrong if wrong else 0.0


def transitions_of(positions: Sequence[JudgedPosition]) -> list[tuple[JudgedPosition, JudgedPosition]]:
    """(before, after) pairs for each expert in consecutive rounds of one debate."""
    by_expert: dict[str, dict[int, JudgedPosition]] = {}
    for p in positions:
        by_expert.setdefault(p.expert, {})[p.round] = p
    pairs = []
    for rounds in by_expert.values():
        for r in sorted(rounds):
            if r - 1 in rounds:
                pairs.append((rounds[r - 1], rounds[r]))
    return pairs


def measure_conformity(problems: Sequence[ProblemRun]) -> Conformity:
    """Count every debater's transitions over all debates."""
    pairs = [pair for p in problems for pair in transitions_of(p.debate.positions)]  # the full debate: every revision
    return Conformity(
        transitions=len(pairs),
        right_to_wrong=sum(a.is_correct and not b.is_correct for a, b in pairs),
        wrong_to_right=sum(not a.is_correct and b.is_correct for a, b in pairs),
        right_to_right=sum(a.is_correct and b.is_correct for a, b in pairs),
        wrong_to_wrong=sum(not a.is_correct and not b.is_correct for a, b in pairs),
        changed_answer=sum(a.extracted != b.extracted for a, b in pairs),
    )
