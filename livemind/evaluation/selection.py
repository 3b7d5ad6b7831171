"""Choosing the baseline expert and the council without looking at the scored questions' answers.

The best single expert is the one with most right answers on a short pilot of *held-out*
questions (greedy). Ties, and a pilot where nobody is right, go to the expert the router
picks most often for the task's questions: the expert a user asking one question would get.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TypeVar

from livemind.evaluation.results import ExpertChoice, PilotScore

T = TypeVar("T")


def most_common(picks: Sequence[T]) -> tuple[T, int]:
    """The most frequent pick and its count; ties go to the pick seen first."""
    counts = Counter(picks)
    best = max(counts.values())
    winner = next(p for p in picks if counts[p] == best)
    return winner, best


def choose_best_expert(pilot: Sequence[PilotScore], router_pick: str, router_share: str) -> ExpertChoice:
    """The pilot's best expert; the router's pick on ties or when the pilot is empty or all wrong."""
    if not pilot:
        return ExpertChoice(expert=router_pick, how="router",
                            reason=f"no pilot was run; the router picks it for {router_share}")
    top = max(p.correct for p in pilot)
    if top == 0:
        return ExpertChoice(expert=router_pick, how="router", pilot=tuple(pilot),
                            reason=f"no expert answered any of the {pilot[0].n} held-out pilot questions; "
                                   f"the router picks it for {router_share}")
    leaders = [p.expert for p in pilot if p.correct == top]
    chosen = router_pick if router_pick in leaders else leaders[0]
    tie = ""
    if len(leaders) > 1:
        rule = "the router's pick" if chosen == router_pick else "configuration order"
        tie = f"; tied with {', '.join(e for e in leaders if e != chosen)}, broken by {rule}"
    return ExpertChoice(expert=chosen, how="pilot", pilot=tuple(pilot),
                        reason=f"most right answers on {pilot[0].n} held-out pilot questions ({top}){tie}")
