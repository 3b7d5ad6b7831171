"""The plain-words verdict: which council strategy works on these models, and does it beat one model?

Each council strategy is compared with self-consistency at its own token budget and with the
best single expert, on the same questions (exact McNemar test). "Beat" means more questions
right with p < 0.05; anything else is a tie within noise or a loss. The issue's three targets
are checked and reported as met or not, with their numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from livemind.evaluation.conformity import Conformity
from livemind.evaluation.results import COUNCIL_METHODS, SAME_BUDGET, CouncilKind, EvalRun, MethodKey
from livemind.evaluation.scoring import MethodOutcome, MethodScore, mcnemar_p
from livemind.types import Value

SIGNIFICANCE = 0.05
TOO_WEAK_ACCURACY = 0.10
TARGET_MARGIN = 0.10  # the best strategy beats the best single expert by at least 10 points
SELECTIVE_TOKEN_SHARE = 0.5  # selective debate spends at most half of debate's tokens
COUNCIL_NAMES: dict[CouncilKind, str] = {"vote": "Vote", "select": "Select", "selective": "Selective debate",
                                         "debate": "Debate"}

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


class Target(Value):
    """One of the issue's targets: what it asks, whether this run met it, and the numbers."""

    name: str
    is_met: bool
    detail: str


class Verdict(Value):
    """The headline, the sentences behind it, the targets and the comparisons they rest on."""

    headline: str
    sentences: tuple[str, ...]
    comparisons: tuple[Comparison, ...]
    targets: tuple[Target, ...]
    best_strategy: CouncilKind
    best_per_token: CouncilKind
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


def _result(c: Comparison, name: str, other: str) -> str:
    if c.outcome == "better":
        return f"{name} is better (exact McNemar p = {c.p_value:.3f})"
    if c.outcome == "worse":
        return f"{other} is better (exact McNemar p = {c.p_value:.3f})"
    if c.council_correct == c.baseline_correct:
        return "a tie"
    leader = name if c.council_correct > c.baseline_correct else other
    return f"{leader} ahead by {abs(c.council_correct - c.baseline_correct)}, within noise (p = {c.p_value:.2f})"


def _strategy_sentence(kind: CouncilKind, run: EvalRun, scores: Mapping[MethodKey, MethodScore],
                       vs_sc: Comparison, vs_single: Comparison) -> str:
    budget = run.budget(kind)
    s = scores[kind]
    matched = "" if budget.is_within_tolerance else f"; budget gap {100 * budget.relative_gap:+.0f}%: outside tolerance"
    return (f"{COUNCIL_NAMES[kind]}: {_share(s.correct, s.n)}, {s.tokens_per_question:.0f} generated and "
            f"{s.prompt_tokens / max(s.n, 1):.0f} prompt tokens per question. Against self-consistency at k={budget.k}"
            f" (matched on generated tokens{matched}): {_result(vs_sc, kind, 'self-consistency')}. Against the best "
            "single expert: "
            f"{_result(vs_single, kind, 'the single expert')}.")


def _targets(run: EvalRun, scores: Mapping[MethodKey, MethodScore], best: CouncilKind,
             best_vs_single: Comparison) -> tuple[Target, ...]:
    single, top = scores["single"], scores[best]
    margin = top.accuracy - single.accuracy
    beats = Target(name=f"the best strategy beats the best single expert by ≥{100 * TARGET_MARGIN:.0f} points, p < 0.05",
                   is_met=margin >= TARGET_MARGIN and best_vs_single.outcome == "better",
                   detail=f"{best} {100 * top.accuracy:.0f}% vs single {100 * single.accuracy:.0f}% "
                          f"({100 * margin:+.0f} points, exact McNemar p = {best_vs_single.p_value:.3f})")
    sc = scores[SAME_BUDGET[best]]
    holds = Target(name="the best strategy is at least as accurate as same-budget self-consistency",
                   is_met=top.correct >= sc.correct,
                   detail=f"{best} {top.correct}/{top.n} vs self-consistency k={run.budget(best).k} {sc.correct}/{sc.n}")
    selective, debate = scores["selective"], scores["debate"]
    share = selective.tokens / debate.tokens if debate.tokens else 0.0
    keeps = Target(name="selective debate keeps debate's accuracy (inside its 95% CI) at ≤ half its tokens",
                   is_met=debate.ci_low <= selective.accuracy <= debate.ci_high and share <= SELECTIVE_TOKEN_SHARE,
                   detail=f"selective {100 * selective.accuracy:.0f}% vs debate {100 * debate.accuracy:.0f}% "
                          f"(CI {100 * debate.ci_low:.0f}–{100 * debate.ci_high:.0f}%), "
                          f"{100 * share:.0f}% of debate's generated tokens")
    return beats, holds, keeps


def judge(run: EvalRun, scores: Sequence[MethodScore], outcomes: Mapping[MethodKey, Sequence[MethodOutcome]],
          conformity: Conformity) -> Verdict:
    """Compare each council strategy with same-budget voting and the single expert; check the targets."""
    by_method = {s.method: s for s in scores}
    vs_sc = {k: compare(k, SAME_BUDGET[k], outcomes) for k in COUNCIL_METHODS}
    vs_single = {k: compare(k, "single", outcomes) for k in COUNCIL_METHODS}
    best = max(COUNCIL_METHODS, key=lambda k: (by_method[k].correct, -by_method[k].tokens))
    per_token = max(COUNCIL_METHODS, key=lambda k: (by_method[k].correct_per_1k_tokens, by_method[k].correct))
    targets = _targets(run, by_method, best, vs_single[best])
    top, single = by_method[best], by_method["single"]
    headline = (f"Best strategy: {best} ({_share(top.correct, top.n)}) against the best single expert's "
                f"{_share(single.correct, single.n)}; best per token: {per_token} "
                f"({by_method[per_token].correct_per_1k_tokens:.2f} right per 1k tokens). "
                f"{sum(t.is_met for t in targets)} of {len(targets)} targets met.")
    is_too_weak = max(s.accuracy for s in scores) <= TOO_WEAK_ACCURACY
    sentences: list[str] = []
    if is_too_weak:
        sentences.append("Every method scored at most 10%: these models are too small for this task, so this run "
                         "cannot show whether a council helps. Run it on the default council (see docs/eval.md).")
    sentences += [_strategy_sentence(k, run, by_method, vs_sc[k], vs_single[k]) for k in COUNCIL_METHODS]
    like = {k: compare(k, "single_sampled", outcomes) for k in COUNCIL_METHODS} if "single_sampled" in outcomes else {}
    if like:
        sampled = by_method["single_sampled"]
        sentences.append(f"Like with like (everyone sampling at their council temperature): the single expert sampled "
                         f"scores {_share(sampled.correct, sampled.n)} against {_share(single.correct, single.n)} "
                         "greedy; against it, " + "; ".join(
                             f"{k} {_result(c, k, 'the sampled single expert')}" for k, c in like.items()) + ".")
    if conformity.transitions:
        sentences.append(
            f"Between debate rounds, {conformity.right_to_wrong} right answer(s) turned wrong and "
            f"{conformity.wrong_to_right} wrong answer(s) turned right, out of {conformity.transitions} "
            f"expert-round transitions ({conformity.changed_answer} changed the extracted answer).")
    return Verdict(headline=headline, sentences=tuple(sentences),
                   comparisons=(*vs_sc.values(), *vs_single.values(), *like.values()), targets=targets, best_strategy=best,
                   best_per_token=per_token, is_too_weak_to_tell=is_too_weak)
