"""Scoring: each method's per-question outcome, accuracy with a Wilson interval, and paired tests.

Methods are scored on the same questions, so two methods are compared with an exact McNemar
test on the questions where exactly one of them was right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from livemind.council.strategies import count_votes
from livemind.evaluation.results import COUNCIL_METHODS, METHOD_ORDER, SAME_BUDGET, Attempt, EvalRun, MethodKey, ProblemRun
from livemind.evaluation.voting import is_split
from livemind.types import Value

Z_95 = 1.959963984540054


class MethodOutcome(Value):
    """One method's answer to one problem, judged, with what it cost."""

    method: MethodKey
    problem_id: str
    predicted: int | None
    is_correct: bool
    tokens: int
    seconds: float
    prompt_tokens: int = 0
    agreement: float | None = None  # council methods: the share on the winning answer (select: self-consistency)
    is_split: bool = False  # a vote that tied for the most, so it gave no answer (the tie rule: voting.TIE_RULE)


class MethodScore(Value):
    """One method over all problems."""

    method: MethodKey
    label: str
    n: int
    correct: int
    accuracy: float
    ci_low: float
    ci_high: float
    unanswered: int
    tokens: int
    tokens_per_question: float
    seconds: float
    correct_per_1k_tokens: float
    prompt_tokens: int = 0
    splits: int = 0  # of the unanswered, votes that tied

    @property
    def total_tokens(self) -> int:
        """Generated and prompt tokens together (prompt tokens as the engine processed them)."""
        return self.tokens + self.prompt_tokens


def wilson_interval(correct: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for a proportion (95% by default); (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_p(only_first: int, only_second: int) -> float:
    """Exact two-sided McNemar p-value from the two discordant counts."""
    discordant = only_first + only_second
    if discordant == 0:
        return 1.0
    tail = sum(math.comb(discordant, i) for i in range(min(only_first, only_second) + 1))
    return min(1.0, 2 * tail / 2**discordant)


def _outcome(method: MethodKey, run: ProblemRun, attempt: Attempt, *, agreement: float | None = None) -> MethodOutcome:
    predicted = attempt.extracted
    return MethodOutcome(method=method, problem_id=run.problem.id, predicted=predicted,
                         is_correct=predicted is not None and predicted == run.problem.answer, tokens=attempt.tokens,
                         seconds=round(attempt.seconds, 3), prompt_tokens=attempt.prompt_tokens, agreement=agreement,
                         is_split=is_split(attempt.failure))


def _vote(method: MethodKey, run: ProblemRun, samples: Sequence[Attempt]) -> MethodOutcome:
    counted = count_votes([s.extracted for s in samples])
    predicted = counted.winner
    return MethodOutcome(method=method, problem_id=run.problem.id, predicted=predicted, is_split=counted.is_split,
                         is_correct=predicted is not None and predicted == run.problem.answer,
                         tokens=sum(s.tokens for s in samples), seconds=round(sum(s.seconds for s in samples), 3),
                         prompt_tokens=sum(s.prompt_tokens for s in samples))


def method_outcomes(run: EvalRun) -> dict[MethodKey, list[MethodOutcome]]:
    """Every method's outcome on every problem; self-consistency votes over its first k samples."""
    outcomes: dict[MethodKey, list[MethodOutcome]] = {m: [] for m in METHOD_ORDER}
    for p in run.problems:
        outcomes["single"].append(_outcome("single", p, p.single))
        if p.single_sampled is not None:
            outcomes["single_sampled"].append(_outcome("single_sampled", p, p.single_sampled))
        for kind in COUNCIL_METHODS:
            attempt = p.council(kind)
            outcomes[kind].append(_outcome(kind, p, attempt.reply, agreement=attempt.checkable_agreement()))
            outcomes[SAME_BUDGET[kind]].append(_vote(SAME_BUDGET[kind], p, p.samples[:run.budget(kind).k]))
    if len(outcomes["single_sampled"]) != len(run.problems):  # greedy councils and older runs have none
        del outcomes["single_sampled"]
    return outcomes


def _is_weighted(run: EvalRun) -> bool:
    """Whether the run's votes could weigh answers by confidence (every first answer has one)."""
    firsts = [p for r in run.problems for p in r.vote.positions if p.round == 0]
    return bool(firsts) and all(p.mean_logprob is not None for p in firsts)


def method_label(method: MethodKey, run: EvalRun) -> str:
    """A plain name for a method in this run."""
    council, rounds, k = len(run.council), run.settings.rounds, run.settings.samples
    plural = "" if rounds == 1 else "s"
    labels: dict[str, str] = {
        "single": f"best single expert ({run.choice.expert}, greedy)",
        "single_sampled": f"best single expert ({run.choice.expert}, sampled at its council temperature)",
        "vote": (f"vote: {council} first answers, weighted by confidence" if _is_weighted(run)
                 else f"vote: majority of {council} first answers"),
        "select": f"select: {council} experts × {k} samples, most self-consistent expert",
        "selective": f"selective debate: ≤{rounds} round{plural} when first answers differ, + synthesis",
        "debate": f"debate: {rounds} round{plural} always, + synthesis ({council} experts)",
    }
    for kind, sc in SAME_BUDGET.items():
        labels[sc] = f"self-consistency, k={run.budget(kind).k} ({kind} budget)"
    return labels[method]


def score(method: MethodKey, label: str, outcomes: Sequence[MethodOutcome]) -> MethodScore:
    """Accuracy with its 95% Wilson interval, tokens, wall time and correct answers per 1k tokens."""
    n = len(outcomes)
    correct = sum(o.is_correct for o in outcomes)
    tokens = sum(o.tokens for o in outcomes)
    low, high = wilson_interval(correct, n)
    return MethodScore(
        method=method, label=label, n=n, correct=correct, accuracy=round(correct / n, 4) if n else 0.0,
        ci_low=round(low, 4), ci_high=round(high, 4), unanswered=sum(o.predicted is None for o in outcomes),
        tokens=tokens, tokens_per_question=round(tokens / n, 1) if n else 0.0,
        seconds=round(sum(o.seconds for o in outcomes), 2),
        correct_per_1k_tokens=round(1000 * correct / tokens, 3) if tokens else 0.0,
        prompt_tokens=sum(o.prompt_tokens for o in outcomes), splits=sum(o.is_split for o in outcomes),
    )


def score_run(run: EvalRun) -> tuple[MethodScore, ...]:
    """Every method's score, in the report's order."""
    outcomes = method_outcomes(run)
    return tuple(score(m, method_label(m, run), outcomes[m]) for m in METHOD_ORDER if m in outcomes)


def sample_accuracy(run: EvalRun) -> tuple[int, int]:
    """Right self-consistency samples and all samples: the sampled single expert's pass@1 at SC's temperature."""
    samples = [(a, r.problem.answer) for r in run.problems for a in r.samples]
    return sum(a.extracted is not None and a.extracted == key for a, key in samples), len(samples)
