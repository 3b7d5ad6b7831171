"""Budget matching: self-consistency's generated tokens come within the stated tolerance of the council's."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from livemind.evaluation.budget import (
    DEFAULT_TOLERANCE,
    match_budget,
    needs_more_samples,
    tokens_of_first,
)
from livemind.evaluation.results import EvalSettings
from livemind.evaluation.runner import EvalRunner
from tests.evaluation.conftest import ScriptedCouncil


def test_the_matched_k_is_the_one_whose_tokens_lie_closest_to_the_council() -> None:
    samples = [[50, 60, 70, 80], [40, 40, 40, 40]]  # k=1: 90, k=2: 190, k=3: 300, k=4: 420
    assert match_budget(samples, 280, against="debate").k == 3
    assert match_budget(samples, 200, against="debate").k == 2
    assert match_budget(samples, 1000, against="debate").k == 4


def test_a_match_reports_its_gap_and_whether_it_is_within_tolerance() -> None:
    samples = [[100] * 10]
    close = match_budget(samples, 520, against="consensus", tolerance=0.10)
    assert close.k == 5 and close.tokens == 500
    assert close.relative_gap == pytest.approx(-20 / 520)
    assert close.is_within_tolerance
    far = match_budget(samples, 50, against="consensus", tolerance=0.10)
    assert far.k == 1 and far.relative_gap == pytest.approx(1.0)
    assert not far.is_within_tolerance


def test_sampling_continues_until_the_target_is_reached_or_the_cap() -> None:
    assert needs_more_samples([[], []], 100, max_samples=8)
    assert needs_more_samples([[30], [30]], 100, max_samples=8)
    assert not needs_more_samples([[30, 30], [30, 30]], 100, max_samples=8)
    assert not needs_more_samples([[10], [10]], 100, max_samples=1)


@pytest.mark.parametrize("seed", range(20))
def test_the_matched_gap_is_at_most_half_of_one_round_of_samples(seed: int) -> None:
    rng = random.Random(seed)
    questions = rng.randint(1, 40)
    samples = [[rng.randint(5, 96) for _ in range(32)] for _ in range(questions)]
    target = rng.randint(tokens_of_first(1, samples), tokens_of_first(32, samples))
    match = match_budget(samples, target, against="debate")
    below = max(k for k in range(1, 33) if tokens_of_first(k, samples) <= target)
    above = min(below + 1, 32)
    round_tokens = tokens_of_first(above, samples) - tokens_of_first(below, samples)
    assert abs(match.tokens - target) <= round_tokens / 2
    assert match.k in (below, above)
    assert match.tolerance == DEFAULT_TOLERANCE


@pytest.mark.parametrize("n", [3, 8])
def test_self_consistency_spends_what_the_council_spends_within_tolerance(
        scripted_council: Callable[..., ScriptedCouncil], n: int) -> None:
    council = scripted_council()
    settings = EvalSettings(n=n, seed=11, rounds=2, max_tokens=64, experts=("alpha", "beta", "gamma"),
                            best_expert="beta")
    run = EvalRunner(council.mind, settings).run()
    debate_tokens = sum(p.debate.reply.tokens for p in run.problems)
    vote_tokens = sum(p.vote.reply.tokens for p in run.problems)
    assert vote_tokens < debate_tokens
    for against in ("vote", "select", "selective", "debate"):
        target = sum(p.council(against).reply.tokens for p in run.problems)
        budget = run.budget(against)
        assert budget.target_tokens == target
        assert budget.tokens == sum(a.tokens for p in run.problems for a in p.samples[:budget.k])
        assert budget.prompt_tokens == sum(a.prompt_tokens for p in run.problems for a in p.samples[:budget.k])
        assert budget.target_prompt_tokens == sum(p.council(against).reply.prompt_tokens for p in run.problems)
        drawn = min(len(p.samples) for p in run.problems)
        gaps = [abs(sum(a.tokens for p in run.problems for a in p.samples[:k]) - target) for k in range(1, drawn + 1)]
        assert abs(budget.tokens - target) == min(gaps), "the matched k is the closest one drawn"
        if budget.k >= 4:  # then half a round is within the default 15%
            assert budget.is_within_tolerance
    costliest = max(sum(p.council(k).reply.tokens for p in run.problems) for k in ("vote", "select", "debate"))
    drawn = min(len(p.samples) for p in run.problems)
    assert sum(a.tokens for p in run.problems for a in p.samples[:drawn - 1]) < costliest, "no round drawn in vain"
    assert run.budget("vote").k < run.budget("debate").k
    assert run.budget("debate").k >= 4, "a debate of three experts costs several single answers"


def test_greedy_answers_use_temperature_zero_and_samples_the_voting_temperature(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    council = scripted_council()
    settings = EvalSettings(n=2, seed=3, rounds=1, max_tokens=64, experts=("alpha", "gamma"), best_expert="beta",
                            sc_temperature=0.9)
    run = EvalRunner(council.mind, settings).run()
    beta = [t for t in council.turns if t.expert == "beta" and t.kind == "first"]
    greedy = [t for t in beta if t.temperature == 0.0]
    sampled = [t for t in beta if t.temperature == 0.9]
    assert len(greedy) == 2
    assert len(sampled) == sum(len(p.samples) for p in run.problems)
    assert len({t.seed for t in sampled}) == len(sampled), "every sample has its own seed"
