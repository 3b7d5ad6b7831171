"""Budget matching: how many self-consistency samples cost as many tokens as the council.

Self-consistency samples the best expert k times per question. Samples are drawn in rounds
(one more sample for every question) until their tokens reach the council's, so the
generated tokens of the first k samples, summed over all questions, rise with k and at
most one round is drawn past the target. The matched k is the one whose total lies closest to
the council's total; the match is *within tolerance* when the gap is at most `tolerance`
of the council's tokens. The closest k misses by at most half of one round of samples, which
is about 1/(2k) of the total when samples have similar lengths: with k of 4 or more, inside
the default 15%. Every report says whether its match is within tolerance.

Budgets are counted both ways, and **matched on generated tokens only** (they cost the time:
about 7 tokens/s here against hundreds for prompt tokens). Each match also carries the prompt
tokens on both sides (as the engine processed them: a prompt prefix already in the KV cache
costs nothing, so self-consistency's repeated prompt is nearly free), the k at which
self-consistency's prompt tokens would reach the council's with no cache at all, and the k at
which its generated and processed prompt tokens together would reach the council's total. The
last two need not have been drawn; revision rounds (every answer re-read by every expert) push
them far above the k that was matched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import Field

from livemind.types import Value

DEFAULT_TOLERANCE = 0.15


class BudgetMatch(Value):
    """The chosen k for one council method, and how close its tokens came."""

    against: str
    k: int = Field(ge=1)
    tokens: int
    target_tokens: int
    tolerance: float
    prompt_tokens: int = 0
    target_prompt_tokens: int = 0
    k_for_prompt: int = 0  # samples per question whose prompt tokens reach the council's
    k_for_total: int = 0  # samples per question whose generated + processed prompt tokens reach the council's

    @property
    def total_tokens(self) -> int:
        """Self-consistency's generated and prompt tokens at the matched k."""
        return self.tokens + self.prompt_tokens

    @property
    def target_total_tokens(self) -> int:
        """The council method's generated and prompt tokens."""
        return self.target_tokens + self.target_prompt_tokens

    @property
    def prompt_ratio(self) -> float:
        """Council prompt tokens / self-consistency prompt tokens at the matched k."""
        return self.target_prompt_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    @property
    def relative_gap(self) -> float:
        """(voting tokens − council tokens) / council tokens."""
        return (self.tokens - self.target_tokens) / self.target_tokens if self.target_tokens else 0.0

    @property
    def is_within_tolerance(self) -> bool:
        """Whether the two budgets differ by at most the tolerance."""
        return abs(self.relative_gap) <= self.tolerance


def tokens_of_first(k: int, sample_tokens: Sequence[Sequence[int]]) -> int:
    """Generated tokens of the first k samples, summed over every question."""
    return sum(sum(per_question[:k]) for per_question in sample_tokens)


def samples_drawn(sample_tokens: Sequence[Sequence[int]]) -> int:
    """How many samples every question has (the rounds drawn so far)."""
    return min((len(per_question) for per_question in sample_tokens), default=0)


def needs_more_samples(sample_tokens: Sequence[Sequence[int]], target_tokens: int, max_samples: int) -> bool:
    """Whether another round of samples is needed to reach the target (and allowed)."""
    drawn = samples_drawn(sample_tokens)
    return drawn < max_samples and (drawn == 0 or tokens_of_first(drawn, sample_tokens) < target_tokens)


def match_budget(sample_tokens: Sequence[Sequence[int]], target_tokens: int, *, against: str,
                 tolerance: float = DEFAULT_TOLERANCE, sample_prompt_tokens: Sequence[Sequence[int]] = (),
                 sample_prompt_lengths: Sequence[Sequence[int]] = (), target_prompt_tokens: int = 0) -> BudgetMatch:
    """The k (up to the samples drawn) whose total tokens lie closest to the target; ties take the smaller k.

    With prompt tokens given, the match also reports them, and the k whose prompt tokens reach
    `target_prompt_tokens` if no prompt were cached (every sample of a question has the same
    prompt, of `sample_prompt_lengths` tokens, so that k need not be drawn).
    """
    drawn = samples_drawn(sample_tokens)
    if drawn == 0:
        raise ValueError("no samples drawn yet")
    best = min(range(1, drawn + 1), key=lambda k: (abs(tokens_of_first(k, sample_tokens) - target_tokens), k))
    prompt_tokens = tokens_of_first(best, sample_prompt_tokens) if sample_prompt_tokens else 0
    per_round = sum(per_question[0] for per_question in (sample_prompt_lengths or sample_prompt_tokens) if per_question)
    k_for_prompt = max(1, math.ceil(target_prompt_tokens / per_round)) if per_round else 0
    drawn_total = tokens_of_first(drawn, sample_tokens) + tokens_of_first(drawn, sample_prompt_tokens)
    target_total = target_tokens + target_prompt_tokens
    k_for_total = max(1, math.ceil(target_total * drawn / drawn_total)) if drawn_total else 0  # at the mean per round
    return BudgetMatch(against=against, k=best, tokens=tokens_of_first(best, sample_tokens),
                       target_tokens=target_tokens, tolerance=tolerance, prompt_tokens=prompt_tokens,
                       target_prompt_tokens=target_prompt_tokens, k_for_prompt=k_for_prompt, k_for_total=k_for_total)
