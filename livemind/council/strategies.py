"""How a council turns its experts' answers into one: vote, select, or debate (selectively).

Pure functions over positions and their embeddings; the graph calls them. The research behind
the choices (NOTES): at equal compute most of debate's gain is plain voting; with small models,
picking the answer of the model whose own samples agree most (SLM-MUX) beats discussion; and
debating only when first answers disagree keeps debate's accuracy for a fraction of its tokens.

- `vote`: independent first answers; the answer most of them extracted wins; for free text,
  the most central answer by embeddings. No synthesis call.
- `select`: each expert samples k answers; the expert whose samples agree most wins, with its
  own majority answer (its self-consistency is reported). No synthesis call.
- `debate`: first answers, revision rounds, then synthesis. Selective by default: the revision
  rounds run only when the first answers disagree.

For a *checkable* round (every answer holds a number the extractor can read) agreement is the
share of answers on the winning number; otherwise it is the mean pairwise embedding similarity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from livemind.council.embeddings import Vectors
from livemind.council.extraction import extract_answer
from livemind.types import Consistency, Position, Strategy, Value

STRATEGIES: tuple[Strategy, ...] = ("debate", "vote", "select")


class Tally(Value):
    """The numbers a round's answers hold, and how many answers back the winner."""

    values: tuple[int | None, ...]
    winner: int | None
    share: float
    is_checkable: bool

    @property
    def is_unanimous(self) -> bool:
        """Whether every answer holds the same number."""
        return self.is_checkable and self.share == 1.0

    @property
    def is_mostly_numeric(self) -> bool:
        """Whether at least half the answers hold a number: the question asks for one, even if an expert's
        reply was cut off or never stated it (the synthesis then still ends with an `Answer:` line)."""
        return 2 * sum(v is not None for v in self.values) >= len(self.values) > 0


def tally(texts: Sequence[str]) -> Tally:
    """Extract each answer's number; the most common wins (ties: the one given first)."""
    values = tuple(extract_answer(t).value for t in texts)
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return Tally(values=values, winner=None, share=0.0, is_checkable=False)
    best = max(counts.values())
    winner = next(v for v in values if v is not None and counts[v] == best)
    return Tally(values=values, winner=winner, share=best / len(values),
                 is_checkable=all(v is not None for v in values))


def round_agreement(round_tally: Tally, embedding_agreement: float) -> float:
    """Vote share for a checkable round, embedding agreement otherwise."""
    return round_tally.share if round_tally.is_checkable else embedding_agreement


def debate_trigger(round_tally: Tally, embedding_agreement: float, threshold: float) -> tuple[bool, str]:
    """Whether first answers disagree enough to debate, and why (selective debate)."""
    if round_tally.is_checkable:
        if round_tally.is_unanimous:
            return False, f"first answers agree: every expert answered {round_tally.winner}"
        spread = sorted({v for v in round_tally.values if v is not None})
        return True, f"first answers differ: {', '.join(str(v) for v in spread)}"
    if round_tally.is_mostly_numeric:
        # one expert's number against another's silence (its reply ran out of tokens) is not agreement,
        # however alike the working reads: on the word problems it sent 0.95-similar answers to synthesis
        missing = sum(v is None for v in round_tally.values)
        stated = ", ".join(str(v) for v in sorted({v for v in round_tally.values if v is not None}))
        return True, f"first answers differ: {missing} of {len(round_tally.values)} stated no number ({stated} stated)"
    if embedding_agreement >= threshold:
        return False, f"first answers agree: similarity {embedding_agreement:.2f} ≥ {threshold:.2f}"
    return True, f"first answers differ: similarity {embedding_agreement:.2f} < {threshold:.2f}"


def central_among(vectors: Vectors, indices: Sequence[int]) -> int:
    """The index (from `indices`) of the text most similar, on average, to the others in `indices`."""
    if len(indices) == 1:
        return indices[0]
    sub = vectors[list(indices)]
    sims = sub @ sub.T
    return indices[int(np.argmax(sims.sum(axis=1) - np.diag(sims)))]


def vote_pick(positions: Sequence[Position], vectors: Vectors) -> tuple[Position, Tally]:
    """The position a plain vote picks: the most central among those holding the winning number."""
    round_tally = tally([p.text for p in positions])
    if round_tally.winner is None:
        return positions[central_among(vectors, range(len(positions)))], round_tally
    backing = [i for i, v in enumerate(round_tally.values) if v == round_tally.winner]
    return positions[central_among(vectors, backing)], round_tally


def select_pick(positions: Sequence[Position], vectors: Vectors) -> tuple[Position, tuple[Consistency, ...]]:
    """The SLM-MUX rule: the expert whose samples agree most wins, with its own majority answer.

    Consistency is the share of an expert's samples on its majority number when its samples are
    checkable, and the mean pairwise similarity of its samples otherwise. Ties go to the expert
    listed first (the router's order).
    """
    experts = list(dict.fromkeys(p.expert for p in positions))
    scores: list[Consistency] = []
    picks: dict[str, Position] = {}
    for name in experts:
        indices = [i for i, p in enumerate(positions) if p.expert == name]
        own = tally([positions[i].text for i in indices])
        if own.is_checkable:
            score = own.share
            backing = [i for i, v in zip(indices, own.values, strict=True) if v == own.winner]
        else:
            sub = vectors[indices]
            sims = sub @ sub.T
            n = len(indices)
            score = float((sims.sum() - np.trace(sims)) / (n * (n - 1))) if n > 1 else 1.0
            backing = indices
        picks[name] = positions[central_among(vectors, backing)]
        scores.append(Consistency(expert=name, samples=len(indices), value=own.winner if own.is_checkable else None,
                                  consistency=score))
    best = max(scores, key=lambda c: c.consistency)  # max keeps the first of equals
    return picks[best.expert], tuple(scores)
