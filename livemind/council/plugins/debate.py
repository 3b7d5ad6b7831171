"""`debate`: first answers, revision rounds (selectively: only when the first answers disagree), then a synthesis."""

from __future__ import annotations

from collections.abc import Sequence

from livemind.council.embeddings import Vectors
from livemind.council.strategy import Outcome, RoundView, Synthesise, latest
from livemind.types import Position


class Debate:
    """The experts revise after seeing each other's answers; the synthesiser writes the final answer."""

    name = "debate"
    summary = "revision rounds then synthesis"

    def samples_per_expert(self, requested: int, round_index: int) -> int:
        """One answer per expert, every round."""
        return 1

    def ends_after(self, view: RoundView) -> str:
        """Never by itself: agreement, the round limit and the other debate rules decide."""
        return ""

    def final_positions(self, positions: Sequence[Position], view: RoundView) -> list[Position]:
        """Each active expert's latest position."""
        return latest(positions, view.active, view.round)

    def pick(self, final: Sequence[Position], vectors: Vectors, outcome: Outcome, synthesise: Synthesise) -> None:
        """The synthesiser's answer."""
        synthesise(final, vectors, outcome)


DEBATE = Debate()
