"""`debate`: first answers, revision rounds (selectively: only when the first answers disagree), then a synthesis.

A question that asks for a Python function ends otherwise: the revised replies' programs run on the
question's stated examples and the execution-checked pick chooses among them, as `code` does among
first answers (a synthesiser asked to merge programs writes prose, or code that none of them ran).
The synthesiser writes the answer only when no revised reply can run.
"""

from __future__ import annotations

from collections.abc import Sequence

from livemind.council.code.requests import asks_for_function
from livemind.council.embeddings import Vectors
from livemind.council.plugins.code import execution_pick
from livemind.council.strategy import Outcome, RoundView, Synthesise, latest
from livemind.types import Position


class Debate:
    """The experts revise after seeing each other's answers; the synthesiser writes the final answer."""

    name = "debate"
    summary = "revision rounds then synthesis (for a function: the revised code that runs best)"

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
        """The synthesiser's answer; for a function question, the execution-checked pick among the revised replies."""
        if asks_for_function(outcome.question):
            cannot_run = execution_pick(final, outcome, "debate")
            if cannot_run is None:
                return
            outcome.dissent.append(f"code: {cannot_run}; the synthesiser wrote the answer")
        synthesise(final, vectors, outcome)


DEBATE = Debate()
