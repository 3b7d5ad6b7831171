"""How a council turns its experts' answers into one: vote, select, or debate (selectively).

Pure functions over positions and their embeddings; the graph calls them. The research behind
the choices (NOTES): at equal compute most of debate's gain is plain voting; with small models,
picking the answer of the model whose own samples agree most (SLM-MUX) beats discussion; and
debating only when first answers disagree keeps debate's accuracy for a fraction of its tokens.

- `vote`: independent first answers; the answer with the most weight wins (below); for free text,
  the most central answer by embeddings. No synthesis call.
- `select`: each expert samples k answers; the expert whose samples agree most (by weight) wins,
  with its own majority answer (its self-consistency is reported). No synthesis call.
- `debate`: first answers, revision rounds, then synthesis. Selective by default: the revision
  rounds run only when the first answers disagree.

**Votes are weighted by the engine's own confidence** (CISC, Taubenfeld et al. 2025). An answer's
weight is exp(`mean_logprob`) of its reply: the geometric mean of its tokens' probabilities. The
log-probs are those of **every token of the whole reply** (not only the answer line; the
end-of-generation token is not counted), each taken under the model's **raw** distribution at
the step it was sampled: log softmax(logits)[token], before the repeat penalty, temperature and
top-k / top-p / min-p truncation (livemind.engine.backends.llama_batch). A remote expert's are
the per-token `logprobs` its server reports. Each number's total is the sum of its answers'
weights; the largest total wins, and agreement is the winner's share of all the weight (answers
without a number weigh in the whole but back nothing). When any answer has no confidence (a
remote server that reports no log-probs, the high-level llama-cpp-python backend, a scripted
fake), the vote falls back to counting (each answer weighs 1) and the result says so
(`weighting_statement`). A counted vote is the weighted rule with equal weights, so the rules
below hold for both. `DebateResult.first_vote` stays a plain count of the first answers: every
result carries its own unweighted control.

**Ties are splits** (`count_votes`, the one rule for every vote: this module's, select's, and the
eval's majority votes in livemind.evaluation.voting, which count). When two or more numbers share
the largest total (within a relative `TIE_TOLERANCE`: floating-point sums must not decide), no
number wins: the tally has no winner and names the tied numbers, and a vote or select that ends
in a split says so (`split_statement`) instead of answering. Nothing about the order in which
answers are listed can decide (totals are summed exactly with math.fsum): a two-expert vote
that splits is not a majority, and the first-listed expert used to win every such split. Select
ties the same way: experts that tie on how far their samples agree, with different answers, are
a split, and so is an expert whose own samples split.

For a *checkable* round (every answer holds a number the extractor can read) agreement is the
winner's share of the weight (of the answers, when counted); otherwise it is the mean pairwise
embedding similarity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from livemind.council.embeddings import Vectors
from livemind.council.extraction import extract_answer
from livemind.types import Consistency, Position, Value

SPLIT = "split, no majority"
"""Who answered a vote or select that ended in a split (`DebateResult.synthesizer` is "vote: split, no majority")."""
TIE_TOLERANCE = 1e-9
"""Totals of weight within this share of the largest tie: rounding must not pick a winner."""
WEIGHTED = "weighted by confidence: each answer weighs exp(mean token log-prob of its reply)"
"""`weighting_statement` when every answer carries the engine's confidence."""


class Tally(Value):
    """The numbers a round's answers hold, the winner (None on a split) and the share of weight that backs it."""

    values: tuple[int | None, ...]
    winner: int | None
    share: float
    is_checkable: bool
    tied: tuple[int, ...] = ()  # on a split, the numbers that share the largest total, smallest first
    weights: tuple[float, ...] = ()  # each answer's weight, exp(mean_logprob), when weighted; () when counted

    @property
    def is_split(self) -> bool:
        """Whether two or more numbers share the largest total, so no number wins."""
        return len(self.tied) > 1

    @property
    def is_weighted(self) -> bool:
        """Whether the answers were weighted by confidence (else each counted 1)."""
        return bool(self.weights)

    @property
    def is_unanimous(self) -> bool:
        """Whether every answer holds the same number."""
        return self.is_checkable and len(set(self.values)) == 1

    @property
    def is_mostly_numeric(self) -> bool:
        """Whether at least half the answers hold a number: the question asks for one, even if an expert's
        reply was cut off or never stated it (the synthesis then still ends with an `Answer:` line)."""
        return 2 * sum(v is not None for v in self.values) >= len(self.values) > 0


def vote_weights(confidences: Sequence[float | None]) -> tuple[float, ...]:
    """Each answer's weight, exp(mean_logprob); () when any answer has no (finite) confidence: then votes are counted."""
    if not confidences or any(c is None or not math.isfinite(c) for c in confidences):
        return ()
    return tuple(math.exp(c) for c in confidences if c is not None)


def count_votes(values: Sequence[int | None], confidences: Sequence[float | None] | None = None) -> Tally:
    """The vote rule: the number with the largest total weight wins; a tie for the largest is a split.

    Without `confidences` (or when any is missing) every answer weighs 1, which is plain counting.
    Answers without a number back nothing but count in the whole that `share` divides.
    """
    values = tuple(values)
    weights = vote_weights(confidences) if confidences is not None else ()
    if weights and len(weights) != len(values):
        raise ValueError(f"{len(values)} answers but {len(weights)} confidences")
    each = weights or (1.0,) * len(values)
    backing: dict[int, list[float]] = {}
    for value, weight in zip(values, each, strict=True):
        if value is not None:
            backing.setdefault(value, []).append(weight)
    if not backing:
        return Tally(values=values, winner=None, share=0.0, is_checkable=False, weights=weights)
    totals = {value: math.fsum(ws) for value, ws in backing.items()}  # exact sums: the order cannot matter
    best = max(totals.values())
    leaders = tuple(sorted(v for v, total in totals.items() if best - total <= TIE_TOLERANCE * best))
    is_split = len(leaders) > 1
    whole = math.fsum(each)
    return Tally(values=values, winner=None if is_split else leaders[0], share=best / whole if whole > 0 else 0.0,
                 is_checkable=all(v is not None for v in values), tied=leaders if is_split else (), weights=weights)


def tally(texts: Sequence[str], confidences: Sequence[float | None] | None = None) -> Tally:
    """Extract each answer's number and count the votes, weighted when every answer has a confidence (`count_votes`)."""
    return count_votes([extract_answer(t).value for t in texts], confidences)


def tally_positions(positions: Sequence[Position]) -> Tally:
    """The vote of these positions, each weighted by its confidence (`mean_logprob`) when all have one."""
    return tally([p.text for p in positions], [p.mean_logprob for p in positions])


def weighting_statement(positions: Sequence[Position]) -> str:
    """How a vote of these positions weighs them: by confidence, or counted, naming the experts without one."""
    missing = sorted({p.expert for p in positions if p.mean_logprob is None or not math.isfinite(p.mean_logprob)})
    if not missing:
        return WEIGHTED
    return (f"counted, not weighted: no confidence (token log-probs) from {', '.join(missing)}, "
            "so each answer weighs 1")


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
    """The position a vote picks (weighted by confidence when every position has one): the most central
    among those holding the winning number.

    None on a split (two or more numbers tie for the most votes): no tied answer is preferred.
    """
    round_tally = tally_positions(positions)
    if round_tally.is_split:
        return None, round_tally
    if round_tally.winner is None:
        return positions[central_among(vectors, range(len(positions)))], round_tally
    backing = [i for i, v in enumerate(round_tally.values) if v == round_tally.winner]
    return positions[central_among(vectors, backing)], round_tally


def select_pick(positions: Sequence[Position], vectors: Vectors,
                accuracy: Mapping[str, float] | None = None) -> tuple[Position | None, tuple[Consistency, ...]]:
    """The SLM-MUX rule: the expert whose samples agree most wins, with its own majority answer.

    accuracy: each expert's measured accuracy on a pilot (`ExpertSpec.accuracy`). As in SLM-MUX, a
    tie between equally self-consistent experts goes to the one measured most accurate, when every
    tied expert has a measurement and one is strictly highest; otherwise the tie stays a split.

    Consistency is the share of an expert's samples (of their weight, when every sample of every
    expert has a confidence) on its majority number when its samples are checkable, and the mean
    pairwise similarity of its samples otherwise. None on a split: the experts that agree most tie
    (within TIE_TOLERANCE) and their answers differ (or are free text, which cannot be compared),
    or the winner's own samples split.
    """
    experts = list(dict.fromkeys(p.expert for p in positions))
    is_weighted = bool(vote_weights([p.mean_logprob for p in positions]))  # all or none: shares must compare
    scores: list[Consistency] = []
    backing: dict[str, list[int]] = {}
    for name in experts:
        indices = [i for i, p in enumerate(positions) if p.expert == name]
        own = tally([positions[i].text for i in indices],
                    [positions[i].mean_logprob for i in indices] if is_weighted else None)
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
    leaders = [c for c in scores if top - c.consistency <= TIE_TOLERANCE * top]
    if len(leaders) > 1 and (len({c.value for c in leaders}) > 1 or leaders[0].value is None):
        measured = [(accuracy or {}).get(c.expert) for c in leaders]
        if any(a is None for a in measured):
            return None, tuple(scores)
        best = max(a for a in measured if a is not None)
        leaders = [c for c, a in zip(leaders, measured, strict=True) if a == best]
        if len(leaders) > 1:
            return None, tuple(scores)
    chosen = [i for c in leaders for i in backing[c.expert]]
    return (positions[central_among(vectors, chosen)] if chosen else None), tuple(scores)
