"""Synthesis helpers: the most central position, remaining dissent, and the fallback answer."""

from __future__ import annotations

from collections.abc import Sequence

from livemind.council.embeddings import Vectors
from livemind.types import Position


def first_sentence(text: str, limit: int = 200) -> str:
    """The first sentence of a text, cut to a readable length."""
    flat = " ".join(text.split())
    for end in (". ", "! ", "? "):
        cut = flat.find(end)
        if 0 < cut < limit:
            return flat[: cut + 1]
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def dissent(positions: Sequence[Position], position_vectors: Vectors, answer_vector: Vectors,
            threshold: float) -> tuple[list[str], list[float]]:
    """Positions whose similarity to the final answer is below the threshold, with that similarity."""
    sims = (position_vectors @ answer_vector).tolist() if len(positions) else []
    notes = [
        f"{p.expert} ({p.label}, similarity {s:.2f}): {first_sentence(p.text)}"
        for p, s in zip(positions, sims, strict=True) if s < threshold
    ]
    return notes, [float(s) for s in sims]
