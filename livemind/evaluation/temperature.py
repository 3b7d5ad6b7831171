"""Self-consistency's temperature, chosen on the held-out pilot like every other choice (issue 27).

The best single expert samples `PILOT_SAMPLES` answers to each pilot question at each candidate
temperature: its own configured temperature (the one it answers at as a council member) and the
usual self-consistency temperatures. The candidate whose majority vote is right on the most pilot
questions wins (`TEMPERATURE_RULE`). The pilot questions are never scored.
"""

from __future__ import annotations

from collections.abc import Sequence

from livemind.council.strategies import count_votes
from livemind.types import Value

SC_CANDIDATES = (0.7,)
"""Temperatures tried beside the expert's own configured one."""

FIXED_SC_TEMPERATURE = 0.7
"""What self-consistency sampled at before the pilot chose it (runs whose settings name none)."""

PILOT_SAMPLES = 4
"""Samples per pilot question at each candidate temperature."""

TEMPERATURE_RULE = (f"the most pilot questions right by a majority vote of {PILOT_SAMPLES} samples; ties: more right "
                    "samples, then the lower temperature")


class TemperatureScore(Value):
    """How the best single expert's samples did on the pilot at one temperature."""

    temperature: float
    correct: int  # pilot questions whose majority vote (a tie is no answer) is right
    sample_correct: int  # right samples, of `samples`
    samples: int
    n: int  # pilot questions
    tokens: int


def sampling_temperature(chosen: float | None, given: float | None) -> float:
    """The temperature self-consistency samples at: the pilot's choice, else the settings', else the old fixed one."""
    if chosen is not None:
        return chosen
    return given if given is not None else FIXED_SC_TEMPERATURE


def candidate_temperatures(own: float) -> tuple[float, ...]:
    """The expert's own temperature and the usual ones, lowest first, greedy (0) left out."""
    return tuple(sorted({round(t, 3) for t in (own, *SC_CANDIDATES) if t > 0}))


def temperature_score(temperature: float, answers: Sequence[Sequence[int | None]], keys: Sequence[int],
                      tokens: int) -> TemperatureScore:
    """Score one temperature from each pilot question's extracted sample answers and its key."""
    correct = sum(count_votes(list(a)).winner == key for a, key in zip(answers, keys, strict=True))
    sample_correct = sum(x == key for a, key in zip(answers, keys, strict=True) for x in a)
    return TemperatureScore(temperature=temperature, correct=correct, sample_correct=sample_correct,
                            samples=sum(len(a) for a in answers), n=len(keys), tokens=tokens)


def best_temperature(scores: Sequence[TemperatureScore]) -> TemperatureScore:
    """The winner under TEMPERATURE_RULE."""
    if not scores:
        raise ValueError("no temperature was tried")
    return max(scores, key=lambda s: (s.correct, s.sample_correct, -s.temperature))


def describe(scores: Sequence[TemperatureScore]) -> str:
    """One line for the report: each temperature's pilot result."""
    return "; ".join(f"T={s.temperature}: vote right on {s.correct}/{s.n}, samples {s.sample_correct}/{s.samples}"
                     for s in scores)
