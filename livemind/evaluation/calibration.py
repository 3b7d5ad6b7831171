"""Does agreement mean something? How well a council's agreement predicts that its answer is right.

For a checkable answer a council's agreement is the share of its experts on the winning answer
(for `select`: the winning expert's self-consistency). Read as a confidence, it is
*calibrated* when answers given with agreement a are right about a of the time. Two figures:

- accuracy when agreement is high (unanimous) against when it is not, each with its Wilson interval;
- expected calibration error (ECE): over equal-width agreement bins, the gap between mean
  agreement and accuracy, weighted by how many answers fall in the bin. 0 is perfect.
"""

from __future__ import annotations

from collections.abc import Sequence

from livemind.evaluation.scoring import MethodOutcome, wilson_interval
from livemind.types import Value

BINS = 5
HIGH_AGREEMENT = 1.0


class AgreementBand(Value):
    """Accuracy of the answers whose agreement falls in one band."""

    label: str
    n: int
    correct: int
    ci_low: float
    ci_high: float

    @property
    def accuracy(self) -> float:
        """Share right (0 when the band is empty)."""
        return self.correct / self.n if self.n else 0.0


class Calibration(Value):
    """One council method's agreement against its correctness."""

    method: str
    high: AgreementBand
    low: AgreementBand
    ece: float
    mean_agreement: float


def _band(label: str, outcomes: Sequence[MethodOutcome]) -> AgreementBand:
    correct = sum(o.is_correct for o in outcomes)
    low, high = wilson_interval(correct, len(outcomes))
    return AgreementBand(label=label, n=len(outcomes), correct=correct, ci_low=round(low, 4), ci_high=round(high, 4))


def expected_calibration_error(pairs: Sequence[tuple[float, bool]], bins: int = BINS) -> float:
    """Σ over equal-width bins of (share of answers in the bin) × |mean agreement − accuracy|."""
    if not pairs:
        return 0.0
    total = 0.0
    for b in range(bins):
        lower, upper = b / bins, (b + 1) / bins
        members = [(a, ok) for a, ok in pairs if lower <= a < upper or (b == bins - 1 and a == upper)]
        if members:
            confidence = sum(a for a, _ in members) / len(members)
            accuracy = sum(ok for _, ok in members) / len(members)
            total += len(members) / len(pairs) * abs(confidence - accuracy)
    return round(total, 4)


def calibrate(method: str, outcomes: Sequence[MethodOutcome]) -> Calibration:
    """Split a council method's answers by agreement and measure its calibration."""
    rated = [o for o in outcomes if o.agreement is not None]
    high = [o for o in rated if o.agreement is not None and o.agreement >= HIGH_AGREEMENT]
    low = [o for o in rated if o.agreement is not None and o.agreement < HIGH_AGREEMENT]
    pairs = [(float(o.agreement or 0.0), o.is_correct) for o in rated]
    mean = round(sum(a for a, _ in pairs) / len(pairs), 4) if pairs else 0.0
    return Calibration(method=method, high=_band("unanimous", high), low=_band("split", low),
                       ece=expected_calibration_error(pairs), mean_agreement=mean)
