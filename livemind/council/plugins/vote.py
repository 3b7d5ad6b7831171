"""`vote`: independent first answers; the answer with the most weight wins (livemind.council.strategies)."""

from __future__ import annotations

from collections.abc import Sequence

from livemind.council.embeddings import Vectors
from livemind.council.strategies import vote_pick
from livemind.council.strategy import Outcome, RoundView, Synthesise, latest
from livemind.types import Position


class Vote:
    """The first answers' weighted majority; no revision round, no synthesis call."""

    name = "vote"
    summary = "the first answers' majority"

    def samples_per_expert(self, requested: int, round_index: int) -> int:
        """One answer per expert."""
        return 1

    def ends_after(self, view: RoundView) -> str:
        """The first round decides."""
        return "vote: the first answers decide"

    def final_positions(self, positions: Sequence[Position], view: RoundView) -> list[Position]:
        """Each active expert's first answer."""
        return latest(positions, view.active, view.round)

    def pick(self, final: Sequence[Position], vectors: Vectors, outcome: Outcome, synthesise: Synthesise) -> None:
        """The most central answer among those holding the winning number; a split says so."""
        pick, counted = vote_pick(final, vectors)
        if pick is None:
            outcome.split(self.name, {p.expert: (v,) for p, v in zip(final, counted.values, strict=True)})
        else:
            outcome.text, outcome.by = pick.text, f"vote: {pick.expert}"


VOTE = Vote()
