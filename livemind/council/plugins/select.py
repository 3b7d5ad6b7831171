"""`select` (SLM-MUX): each expert samples k answers; the expert whose samples agree most wins."""

from __future__ import annotations

from collections.abc import Sequence

from livemind.council.embeddings import Vectors
from livemind.council.strategies import TIE_TOLERANCE, select_pick, tally
from livemind.council.strategy import Outcome, RoundView, Synthesise
from livemind.types import Position


class Select:
    """The most self-consistent expert's majority answer; no revision round, no synthesis call."""

    name = "select"
    summary = "each expert samples, the most self-consistent wins"

    def samples_per_expert(self, requested: int, round_index: int) -> int:
        """`requested` samples each in the first round (the only one)."""
        return requested if round_index == 0 else 1

    def ends_after(self, view: RoundView) -> str:
        """The samples of the first round decide."""
        return f"select: {view.samples} samples per expert decide"

    def final_positions(self, positions: Sequence[Position], view: RoundView) -> list[Position]:
        """Every sample of the first round from an active expert."""
        return [p for p in positions if p.round == 0 and p.expert in view.active]

    def pick(self, final: Sequence[Position], vectors: Vectors, outcome: Outcome, synthesise: Synthesise) -> None:
        """The SLM-MUX pick; a split (a tie between experts, or within the winner's samples) says so."""
        pick, outcome.consistency = select_pick(final, vectors, outcome.expert_accuracy)
        if pick is None:
            outcome.split(self.name, {c.expert: tally([p.text for p in final if p.expert == c.expert]).values
                                      for c in outcome.consistency})
        else:
            top = max(c.consistency for c in outcome.consistency)
            leaders = [c for c in outcome.consistency if top - c.consistency <= TIE_TOLERANCE * top]
            # equally self-consistent experts on different answers: only the measured accuracy could decide
            tied = len(leaders) > 1 and (len({c.value for c in leaders}) > 1 or leaders[0].value is None)
            outcome.text = pick.text
            outcome.by = f"select: {pick.expert}" + (" (a tie, broken by measured accuracy)" if tied else "")


SELECT = Select()
