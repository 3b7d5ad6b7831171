"""Accuracy with Wilson intervals, and the exact McNemar test for paired methods."""

from __future__ import annotations

import math

import pytest

from livemind.evaluation.scoring import MethodOutcome, mcnemar_p, score, wilson_interval


def _normal_tail(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


@pytest.mark.parametrize(("correct", "n"), [(15, 30), (3, 30), (27, 30), (40, 100), (1, 5)])
def test_the_wilson_bounds_are_where_the_score_test_just_rejects(correct: int, n: int) -> None:
    low, high = wilson_interval(correct, n)
    p = correct / n
    for bound in (low, high):
        z = abs(p - bound) / math.sqrt(bound * (1 - bound) / n)
        assert 2 * _normal_tail(z) == pytest.approx(0.05, abs=1e-6)
    assert low < p < high


def test_the_wilson_interval_for_half_of_thirty() -> None:
    assert wilson_interval(15, 30) == pytest.approx((0.3315, 0.6685), abs=1e-4)


def test_zero_and_all_correct_keep_the_interval_inside_zero_to_one() -> None:
    low, high = wilson_interval(0, 30)
    assert low == 0.0 and 0.10 < high < 0.12
    low, high = wilson_interval(30, 30)
    assert 0.88 < low < 0.90 and high == pytest.approx(1.0)


def test_the_interval_narrows_as_questions_are_added() -> None:
    widths = [(lambda b: b[1] - b[0])(wilson_interval(n // 2, n)) for n in (10, 30, 100, 1000)]
    assert widths == sorted(widths, reverse=True)


def test_mcnemar_is_exact_and_symmetric() -> None:
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(6, 0) == pytest.approx(2 / 2**6)
    assert mcnemar_p(0, 6) == mcnemar_p(6, 0)
    assert mcnemar_p(5, 0) > 0.05 > mcnemar_p(6, 0)
    assert mcnemar_p(4, 4) == 1.0


def _outcomes(flags: list[bool | None], tokens: int) -> list[MethodOutcome]:
    return [MethodOutcome(method="debate", problem_id=str(i), predicted=None if f is None else (1 if f else 2),
                          is_correct=bool(f), tokens=tokens, seconds=0.5) for i, f in enumerate(flags)]


def test_a_score_counts_right_unanswered_tokens_and_accuracy_per_1k_tokens() -> None:
    s = score("debate", "debate", _outcomes([True, False, None, True], tokens=250))
    assert (s.n, s.correct, s.unanswered, s.tokens) == (4, 2, 1, 1000)
    assert s.accuracy == 0.5 and s.tokens_per_question == 250
    assert s.correct_per_1k_tokens == pytest.approx(2.0)
    assert s.seconds == pytest.approx(2.0)
    assert (s.ci_low, s.ci_high) == pytest.approx(wilson_interval(2, 4), abs=1e-4)
