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

**Ties are splits** (`count_votes`, the one rule for every vote: this module's, select's, and the
eval's majority votes in livemind.evaluation.voting). When two or more numbers share the most
votes, no number wins: the tally has no winner and names the tied numbers, and a vote or select
that ends in a split says so (`split_statement`) instead of answering. Nothing about the order
in which answers are listed can decide: a two-expert vote that splits is not a majority, and the
first-listed expert used to win every such split. There is no principled tie-break to hand (no
token log-probabilities, no measured accuracy per expert at run time), so none is guessed.
Select ties the same way: experts that tie on how far their samples agree, with different
answers, are a split, and so is an expert whose own samples split.

For a *checkable* round (every answer holds a number the extractor can read) agreement is the
share of answers on the winning number; otherwise it is the mean pairwise embedding similarity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from livemind.council.embeddings import Vectors
from livemind.council.extraction import extract_answer
from livemind.types import Consistency, Position, Strategy, Value

STRATEGIES: tuple[Strategy, ...] = ("debate", "vote", "select")
SPLIT = "split, no majority"
"""Who answered a vote or select that ended in a split (`DebateResult.synthesizer` is "vote: split, no majority")."""


class Tally(Value):
    """The numbers a round's answers hold, the winner (None on a split) and how many answers back the top count."""

    values: tuple[int | None, ...]
    winner: int | None
    share: float
    is_checkable: bool
    tied: tuple[int, ...] = ()  # on a split, the numbers that share the most votes, smallest first

    @property
    def is_split(self) -> bool:
        """Whether two or more numbers share the most votes, so no number wins."""
        return len(self.tied) > 1

    @property
    def is_unanimous(self) -> bool:
        """Whether every answer holds the same number."""
        return self.is_checkable and self.share == 1.0

    @property
    def is_mostly_numeric(self) -> bool:
        """Whether at least half the answers hold a number: the question asks for one, even if an expert's
        reply was cut off or never stated it (the synthesis then still ends with an `Answer:` line)."""
        return 2 * sum(v is not None for v in self.values) >= len(self.values) > 0


def count_votes(values: Sequence[int | None]) -> Tally:
    """The vote rule: the most common number wins; answers without one do not vote; a tie for the most is a split."""
    values = tuple(values)
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return Tally(values=values, winner=None, share=0.0, is_checkable=False)
    best = max(counts.values())
    leaders = tuple(sorted(v for v, count in counts.items() if count == best))
    is_split = len(leaders) > 1
    return Tally(values=values, winner=None if is_split else leaders[0], share=best / len(values),
                 is_checkable=all(v is not None for v in values), tied=leaders if is_split else ())


def tally(texts: Sequence[str]) -> Tally:
    """Extract each answer's number and count the votes (`count_votes`: a tie is a split)."""
    return count_votes([extract_answer(t).value for t in texts])


def split_statement(answers: Mapping[str, Sequence[int | None]]) -> str:
    """What a split council answers: that no number has a majority, and each expert's numbers (by name)."""
    said = "; ".join(f"{expert}: {', '.join('no number' if v is None else str(v) for v in values)}"
                     for expert, values in sorted(answers.items()))
    return (f"No majority: the experts' answers are tied ({said}). "
            "Check it yourself, or ask the council to debate.")


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


def vote_pick(positions: Sequence[Position], vectors: Vectors) -> tuple[Position | None, Tally]:
    """The position a plain vote picks: the most central among those holding the winning number.

    None on a split (two or more numbers tie for the most votes): no tied answer is preferred.
    """
    round_tally = tally([p.text for p in positions])
    if round_tally.is_split:
        return None, round_tally
    if round_tally.winner is None:
        return positions[central_among(vectors, range(len(positions)))], round_tally
    backing = [i for i, v in enumerate(round_tally.values) if v == round_tally.winner]
    return positions[central_among(vectors, backing)], round_tally


def select_pick(positions: Sequence[Position], vectors: Vectors) -> tuple[Position | None, tuple[Consistency, ...]]:
    """The SLM-MUX rule: the expert whose samples agree most wins, with its own majority answer.

    Consistency is the share of an expert's samples on its majority number when its samples are
    checkable, and the mean pairwise similarity of its samples otherwise. None on a split: the
    experts that agree most tie and their answers differ (or are free text, which cannot be
    compared), or the winner's own samples split.
    """
    experts = list(dict.fromkeys(p.expert for p in positions))
    scores: list[Consistency] = []
    backing: dict[str, list[int]] = {}
    for name in experts:
        indices = [i for i, p in enumerate(positions) if p.expert == name]
        own = tally([positions[i].text for i in indices])
        if own.is_checkable:
            score = own.share
            backing[name] = [i for i, v in zip(indices, own.values, strict=True) if v == own.winner]  # none on a split
        else:
            sub = vectors[indices]
            sims = sub @ sub.T
            n = len(indices)
            score = float((sims.sum() - np.trace(sims)) / (n * (n - 1))) if n > 1 else 1.0
            backing[name] = indices
        scores.append(Consistency(expert=name, samples=len(indices), value=own.winner if own.is_checkable else None,
                                  consistency=score))
    top = max((c.consistency for c in scores), default=0.0)
    leaders = [c for c in scores if c.consistency == top]
    if len(leaders) > 1 and (len({c.value for c in leaders}) > 1 or leaders[0].value is None):
        return None, tuple(scores)
    chosen = [i for c in leaders for i in backing[c.expert]]
    return (positions[central_among(vectors, chosen)] if chosen else None), tuple(scores)
