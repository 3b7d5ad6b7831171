"""Agreement as confidence: the high/low split and the expected calibration error."""

from __future__ import annotations

import pytest

from livemind.evaluation.calibration import calibrate, expected_calibration_error
from livemind.evaluation.results import Attempt, CouncilAttempt, JudgedPosition
from livemind.evaluation.scoring import MethodOutcome


def _outcome(agreement: float | None, is_correct: bool) -> MethodOutcome:
    return MethodOutcome(method="vote", problem_id="q", predicted=1 if is_correct else 2, is_correct=is_correct,
                         tokens=10, seconds=0.1, agreement=agreement)


def test_a_perfectly_calibrated_council_has_zero_error() -> None:
    pairs = [(1.0, True)] * 3 + [(0.5, True), (0.5, False)]
    assert expected_calibration_error(pairs) == 0.0


def test_the_error_weights_each_bins_gap_by_its_share_of_answers() -> None:
    # 4 answers at 1.0 of which 2 right (gap 0.5), 4 at 0.3 of which none right (gap 0.3)
    pairs = [(1.0, True)] * 2 + [(1.0, False)] * 2 + [(0.3, False)] * 4
    assert expected_calibration_error(pairs) == pytest.approx(0.5 * 0.5 + 0.5 * 0.3)
    assert expected_calibration_error([]) == 0.0


def test_unanimous_and_split_answers_are_scored_apart() -> None:
    outcomes = [_outcome(1.0, True)] * 5 + [_outcome(1.0, False)] + [_outcome(2 / 3, False)] * 3 + [_outcome(2 / 3, True)]
    c = calibrate("vote", [*outcomes, _outcome(None, True)])
    assert (c.high.correct, c.high.n, c.low.correct, c.low.n) == (5, 6, 1, 4)
    assert c.high.ci_low < c.high.accuracy < c.high.ci_high
    assert c.mean_agreement == pytest.approx((6 * 1.0 + 4 * 2 / 3) / 10, abs=1e-4)


def test_select_agreement_is_the_winning_experts_self_consistency() -> None:
    def pos(expert: str, value: int | None) -> JudgedPosition:
        return JudgedPosition(expert=expert, round=0, extracted=value, is_correct=value == 7)

    reply = Attempt(text="", extracted=7, failure=None, tokens=1, seconds=0.0)
    select = CouncilAttempt(reply=reply, session_id="s", rounds=0, stop_reason="", synthesizer="select: beta",
                            synthesis_error=None, positions=(pos("alpha", 1), pos("alpha", 2), pos("beta", 7),
                                                             pos("beta", 7), pos("beta", None)))
    assert select.checkable_agreement() == pytest.approx(2 / 3, abs=1e-4)
    debate = select.model_copy(update={"synthesizer": "alpha", "rounds": 1,
                                       "positions": (pos("alpha", 1), pos("beta", 7), JudgedPosition(
                                           expert="alpha", round=1, extracted=7, is_correct=True),
                                           JudgedPosition(expert="beta", round=1, extracted=7, is_correct=True))})
    assert debate.checkable_agreement() == 1.0, "the final round decides"
