"""The eval's values: its settings, every judged reply, and the whole run as JSON can hold it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from livemind.evaluation.budget import DEFAULT_TOLERANCE, BudgetMatch
from livemind.evaluation.tasks import Problem
from livemind.extraction import ExtractionRule
from livemind.types import Value

MethodKey = Literal["single", "sc_consensus", "consensus", "sc_debate", "debate"]
METHOD_ORDER: tuple[MethodKey, ...] = ("single", "sc_consensus", "consensus", "sc_debate", "debate")
CouncilKind = Literal["consensus", "debate"]


class EvalSettings(Value):
    """What to run: task, size, seed, debate rounds, token cap, and how experts are chosen."""

    task: str = "arithmetic"
    n: int = Field(30, ge=1, le=10_000)
    seed: int = 0
    rounds: int = Field(2, ge=1, le=10)
    max_tokens: int = Field(300, ge=8, le=4096)  # room to work step by step; ~250 tokens suffice here
    experts: tuple[str, ...] | None = None
    best_expert: str | None = None
    pilot_n: int = Field(5, ge=0, le=200)
    sc_temperature: float = Field(0.7, gt=0.0, le=2.0)
    tolerance: float = Field(DEFAULT_TOLERANCE, gt=0.0, lt=1.0)
    max_samples: int = Field(32, ge=1, le=256)
    extraction: ExtractionRule = "lenient"


class Attempt(Value):
    """One reply judged by answer extraction, with what it cost."""

    text: str
    extracted: int | None
    failure: str | None
    tokens: int
    seconds: float


class JudgedPosition(Value):
    """One expert's answer in one debate round, judged."""

    expert: str
    round: int
    extracted: int | None
    is_correct: bool


class CouncilAttempt(Value):
    """A consensus or debate on one question: its final answer and every round's positions."""

    reply: Attempt
    session_id: str | None
    rounds: int
    stop_reason: str
    synthesizer: str
    synthesis_error: str | None
    positions: tuple[JudgedPosition, ...]


class ProblemRun(Value):
    """Everything every method produced for one problem."""

    problem: Problem
    single: Attempt
    samples: tuple[Attempt, ...]
    consensus: CouncilAttempt
    debate: CouncilAttempt


class PilotScore(Value):
    """How one expert did on the held-out pilot questions (greedy)."""

    expert: str
    correct: int
    n: int
    tokens: int


class ExpertChoice(Value):
    """Which expert stands for 'the best single expert', and why."""

    expert: str
    how: Literal["given", "pilot", "router"]
    reason: str
    pilot: tuple[PilotScore, ...] = ()


class EvalRun(Value):
    """A finished eval run: settings, choices, every judged reply and the budget matches."""

    settings: EvalSettings
    models: dict[str, str]
    choice: ExpertChoice
    council: tuple[str, ...]
    council_reason: str
    synthesizer: str
    problems: tuple[ProblemRun, ...]
    budgets: tuple[BudgetMatch, ...]
    pilot_tokens: int
    pilot_seconds: float
    total_seconds: float
    started_at: str

    def budget(self, against: CouncilKind) -> BudgetMatch:
        """The self-consistency budget match against one council method."""
        return next(b for b in self.budgets if b.against == against)
