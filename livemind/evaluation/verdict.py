"""The plain-words verdict: did the council beat same-budget voting on these models?

Each council method is compared with self-consistency at its own token budget, and with the
best single expert, on the same questions (exact McNemar test). "Beat" means more questions
right with p < 0.05; anything else is reported as a tie within noise or as a loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from livemind.evaluation.budget import BudgetMatch
from livemind.evaluation.conformity import Conformity
from livemind.evaluation.results import EvalRun, MethodKey
from livemind.evaluation.scoring import MethodOutcome, MethodScore, mcnemar_p
from livemind.types import Value

SIGNIFICANCE = 0.05
TOO_WEAK_ACCURACY = 0.10
COUNCIL_NAMES: dict[MethodKey, str] = {"consensus": "Parallel consensus", "debate": "Debate"}
SAME_BUDGET: dict[MethodKey, MethodKey] = {"consensus": "sc_consensus", "debate": "sc_debate"}

ComparisonOutcome = Literal["better", "worse", "no significant difference"]


class Comparison(Value):
    """A council method against a baseline on the same questions."""

    council: MethodKey
    baseline: MethodKey
    n: int
    council_correct: int
    baseline_correct: int
    council_only: int
    baseline_only: int
    p_value: float
    outcome: ComparisonOutcome


class Verdict(Value):
    """The headline sentence, the sentences behind it, and the comparisons they rest on."""

    headline: str
    sentences: tuple[str, ...]
    comparisons: tuple[Comparison, ...]
    is_too_weak_to_tell: bool


def compare(council: MethodKey, baseline: MethodKey, outcomes: Mapping[MethodKey, Sequence[MethodOutcome]]) -> Comparison:
    """Paired comparison of two methods over the same problems."""
    pairs = list(zip(outcomes[council], outcomes[baseline], strict=True))
    council_only = sum(a.is_correct and not b.is_correct for a, b in pairs)
    baseline_only = sum(b.is_correct and not a.is_correct for a, b in pairs)
    council_correct = sum(a.is_correct for a, _ in pairs)
    baseline_correct = sum(b.is_correct for _, b in pairs)
    p = mcnemar_p(council_only, baseline_only)
    outcome: ComparisonOutcome = "no significant difference"
    if p < SIGNIFICANCE:
        outcome = "better" if council_correct > baseline_correct else "worse"
    return Comparison(council=council, baseline=baseline, n=len(pairs), council_correct=council_correct,
                      baseline_correct=baseline_correct, council_only=council_only, baseline_only=baseline_only,
                      p_value=round(p, 4), outcome=outcome)


def _share(correct: int, n: int) -> str:
    return f"{correct}/{n} ({100 * correct / n:.0f}%)" if n else "0/0"


def _same_budget_sentence(c: Comparison, budget: BudgetMatch) -> str:
    name = COUNCIL_NAMES[c.council]
    gap = f"{100 * budget.relative_gap:+.1f}%"
    matched = (f"within the ±{100 * budget.tolerance:.0f}% tolerance" if budget.is_within_tolerance
               else f"OUTSIDE the ±{100 * budget.tolerance:.0f}% tolerance, so treat this comparison with care")
    if c.outcome == "better":
        result = f"{name} beat it (exact McNemar p = {c.p_value:.3f})"
    elif c.outcome == "worse":
        result = f"voting beat {name.lower()} (exact McNemar p = {c.p_value:.3f})"
    elif c.council_correct == c.baseline_correct:
        result = "a tie"
    else:
        leader = name.lower() if c.council_correct > c.baseline_correct else "voting"
        result = (f"{leader} was ahead by {abs(c.council_correct - c.baseline_correct)} question(s), "
                  f"which is within noise (exact McNemar p = {c.p_value:.2f})")
    return (f"{name} got {_share(c.council_correct, c.n)} right; self-consistency with k={budget.k} got "
            f"{_share(c.baseline_correct, c.n)} with {budget.tokens:,} tokens against the council's "
            f"{budget.target_tokens:,} ({gap}, {matched}): {result}.")


def _single_sentence(comparisons: Sequence[Comparison], scores: Mapping[MethodKey, MethodScore]) -> str:
    single = scores["single"]
    costs = []
    for c in comparisons:
        council = scores[c.council]
        ratio = f"{council.tokens / single.tokens:.1f}×" if single.tokens else "∞×"
        costs.append(f"{COUNCIL_NAMES[c.council].lower()} spent {ratio} its tokens for "
                     f"{c.council_correct - c.baseline_correct:+d} correct answer(s) (exact McNemar p = {c.p_value:.2f})")
    return (f"The best single expert got {_share(single.correct, single.n)} with {single.tokens:,} tokens; "
            + "; ".join(costs) + ".")


def judge(run: EvalRun, scores: Sequence[MethodScore], outcomes: Mapping[MethodKey, Sequence[MethodOutcome]],
          conformity: Conformity) -> Verdict:
    """Compare each council method with same-budget voting and the single expert, in plain words."""
    by_method = {s.method: s for s in scores}
    council_methods: tuple[MethodKey, ...] = ("consensus", "debate")
    same_budget = [compare(m, SAME_BUDGET[m], outcomes) for m in council_methods]
    versus_single = [compare(m, "single", outcomes) for m in council_methods]
    winners = [COUNCIL_NAMES[c.council].lower() for c in same_budget if c.outcome == "better"]
    if len(winners) == len(council_methods):
        headline = "On these models the council did beat same-budget voting."
    elif winners:
        losers = [COUNCIL_NAMES[c.council].lower() for c in same_budget if c.outcome != "better"]
        headline = (f"On these models {winners[0]} beat same-budget voting; "
                    f"{', '.join(losers)} did not.")
    else:
        headline = "On these models the council did not beat same-budget voting."
    best = max(s.accuracy for s in scores)
    is_too_weak = best <= TOO_WEAK_ACCURACY
    sentences: list[str] = []
    if is_too_weak:
        level = "0%" if best == 0 else f"at most {100 * best:.0f}%"
        sentences.append(f"Every method scored {level}: these models are too small for this task, "
                         "so this run cannot show whether a council helps capable models. "
                         "Run it on a real model (see docs/eval.md).")
    for c in same_budget:
        budget = run.budget("consensus") if c.council == "consensus" else run.budget("debate")
        sentences.append(_same_budget_sentence(c, budget))
    sentences.append(_single_sentence(versus_single, by_method))
    if conformity.transitions:
        sentences.append(
            f"Between debate rounds, {conformity.right_to_wrong} right answer(s) turned wrong and "
            f"{conformity.wrong_to_right} wrong answer(s) turned right, out of {conformity.transitions} "
            f"expert-round transitions ({conformity.changed_answer} changed the extracted answer).")
    return Verdict(headline=headline, sentences=tuple(sentences), comparisons=(*same_budget, *versus_single),
                   is_too_weak_to_tell=is_too_weak)
