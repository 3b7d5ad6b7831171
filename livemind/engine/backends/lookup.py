"""Prompt-lookup drafting: guess the next tokens from the sequence's own context.

A revised debate answer repeats long spans of the answers in its own prompt. When the last
few tokens of a sequence (prompt + generated) occurred earlier in it, the tokens that followed
them then are a cheap guess of what comes next. The batch backend feeds the guesses with the
sampled token in one decode step, with logits for every row, and samples the rows in order
with the sequence's own sampler chain: each guess that equals the token sampled is kept, the
first that differs is dropped with everything after it. Every emitted token is still sampled
once, in order, from logits computed on exactly the accepted prefix, so the text is the text of
the plain path, greedy or seeded; only the number of decode steps changes.

    PromptLookup.draft(context, limit)
        index every n-gram (longest size first) of the context whose continuation is known,
        look up the context's last n tokens, return up to `limit` tokens that followed its
        latest earlier occurrence ([] when none)
"""

from __future__ import annotations

from collections.abc import Sequence

NGRAM_SIZES = (3, 2)  # tried longest first; a 1-token match guesses too often to pay for its rows


class PromptLookup:
    """An n-gram index over one sequence's context, which may only grow between calls."""

    def __init__(self, sizes: Sequence[int] = NGRAM_SIZES) -> None:
        self._tables: dict[int, dict[tuple[int, ...], int]] = {n: {} for n in sorted(sizes, reverse=True)}
        self._indexed = 0  # n-grams ending before this position are in the tables

    def draft(self, context: Sequence[int], limit: int) -> list[int]:
        """Up to `limit` tokens that followed the latest earlier occurrence of the context's tail."""
        end = len(context)
        for stop in range(max(self._indexed, 1), end):  # the n-gram ending at `stop` continues with context[stop]
            for n, table in self._tables.items():
                if stop >= n:
                    table[tuple(context[stop - n:stop])] = stop
        self._indexed = max(self._indexed, end)
        if limit <= 0:
            return []
        for n, table in self._tables.items():
            if end >= n:
                at = table.get(tuple(context[end - n:end]))
                if at is not None:
                    return list(context[at:at + limit])
        return []
