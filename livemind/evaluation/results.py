"""The eval's values: its settings, every judged reply, and the whole run as JSON can hold it."""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import Field

from livemind.council.extraction import ExtractionRule
from livemind.evaluation.budget import DEFAULT_TOLERANCE, BudgetMatch
from livemind.evaluation.tasks import Problem
from livemind.evaluation.temperature import TemperatureScore, sampling_temperature
from livemind.types import Transcript, Value

CouncilKind = Literal["vote", "select", "selective", "debate"]
COUNCIL_METHODS: tuple[CouncilKind, ...] = ("vote", "select", "selective", "debate")
MethodKey = Literal["single", "single_sampled", "vote", "sc_vote", "select", "sc_select", "selective", "sc_selective", "debate",
                    "sc_debate"]
METHOD_ORDER: tuple[MethodKey, ...] = ("single", "single_sampled", "vote", "sc_vote", "select", "sc_select", "selective",
                                       "sc_selective", "debate", "sc_debate")
SAME_BUDGET: dict[CouncilKind, MethodKey] = {"vote": "sc_vote", "select": "sc_select", "selective": "sc_selective",
                                             "debate": "sc_debate"}


class EvalSettings(Value):
    """What to run: task, size, seed, debate rounds, token cap, and how experts are chosen."""

    task: str = "arithmetic"
    n: int = Field(30, ge=1, le=10_000)
    seed: int = 0
    rounds: int = Field(1, ge=1, le=10)
    samples: int = Field(2, ge=2, le=16)  # `select`: answers sampled per expert
    max_tokens: int = Field(300, ge=8, le=4096)  # room to work step by step; ~250 tokens suffice here
    experts: tuple[str, ...] | None = None
    best_expert: str | None = None
    pilot_n: int = Field(5, ge=0, le=200)
    sc_temperature: float | None = Field(None, gt=0.0, le=2.0)  # None: chosen on the pilot (evaluation.temperature)
    tolerance: float = Field(DEFAULT_TOLERANCE, gt=0.0, lt=1.0)
    max_samples: int = Field(32, ge=1, le=256)
    extraction: ExtractionRule = "lenient"
    batch: int = Field(4, ge=1, le=64)  # answers from one model drawn at once (its n_seq_max)
    transcript: Transcript = "private"  # how debate prompts are laid out (vote and selective read its first round)
    reuse: str | None = None  # an earlier run's folder whose single, select and self-consistency answers are taken
    # every council expert's answers at this temperature (None: each expert's configured sampling; select samples apart)
    council_temperature: float | None = Field(None, ge=0.0, le=2.0)


class Attempt(Value):
    """One reply judged by answer extraction, with what it cost."""

    text: str
    extracted: int | None
    failure: str | None
    tokens: int
    seconds: float
    prompt_tokens: int = 0  # prompt tokens the engine processed (a cached prefix costs nothing)
    prompt_length: int = 0  # the whole prompt, cached or not
    is_cut_off: bool | None = None  # the reply stopped at its token limit (None: not recorded, runs before it was)


class JudgedPosition(Value):
    """One expert's answer in one debate round, judged."""

    expert: str
    round: int
    extracted: int | None
    is_correct: bool
    mean_logprob: float | None = None  # the engine's confidence in the reply (None in runs made before it existed)


class CouncilAttempt(Value):
    """One council strategy on one question: its final answer, its agreement and every round's positions.

    `source` says how it was obtained: "run" (its own call), or read from another call that ran
    exactly the same steps (the vote is the selective debate's first round; with one revision
    round, a triggered selective debate is the full debate).
    """

    reply: Attempt
    session_id: str | None
    rounds: int
    stop_reason: str
    synthesizer: str
    synthesis_error: str | None
    positions: tuple[JudgedPosition, ...]
    agreement: float = 0.0  # as the run computed it: checkable_agreement() (older runs: select by embeddings)
    first_vote: int | None = None
    debate_triggered: bool | None = None
    trigger_reason: str = ""
    source: str = "run"

    def checkable_agreement(self) -> float:
        """The share of the deciding answers on their most common number.

        Deciding answers: the final round's (vote: the first answers); for `select`, the winning
        expert's own samples, so it is that expert's self-consistency.
        """
        if self.synthesizer.startswith("select: "):
            winner = self.synthesizer.removeprefix("select: ")
            values = [p.extracted for p in self.positions if p.expert == winner]
        else:
            values = [p.extracted for p in self.positions if p.round == self.rounds]
        counts = Counter(v for v in values if v is not None)
        return round(max(counts.values()) / len(values), 4) if counts else 0.0


class ProblemRun(Value):
    """Everything every method produced for one problem."""

    problem: Problem
    single: Attempt
    samples: tuple[Attempt, ...]
    vote: CouncilAttempt
    select: CouncilAttempt
    selective: CouncilAttempt
    debate: CouncilAttempt
    # the best single expert at the temperature it answers at in the council (None: greedy council, or older runs)
    single_sampled: Attempt | None = None
    seconds: float = 0.0
    part: int = 1
    reused: tuple[str, ...] = ()  # the methods taken from the run named by `EvalSettings.reuse`

    def council(self, kind: CouncilKind) -> CouncilAttempt:
        """The attempt of one council strategy."""
        return {"vote": self.vote, "select": self.select, "selective": self.selective, "debate": self.debate}[kind]


class RunPart(Value):
    """One stretch of an eval run between a start and an interruption (or the end)."""

    index: int
    started_at: str
    seconds: float
    questions: int
    machine: str = ""  # the CPU it ran on: a resumed run may continue on another machine


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


class Rescore(Value):
    """Where a run's replies were read again by today's rules (`livemind eval --rescore`), and what changed."""

    source: str
    replies: int  # final replies judged again
    changed: int  # of them, read as another answer (or as one where there was none)
    splits: int = 0  # vote and select answers that the tie rule now calls a split (no answer)


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
    parts: tuple[RunPart, ...] = ()
    rescored: Rescore | None = None
    sc_temperature: float | None = None  # the temperature self-consistency sampled at (None: settings' own)
    sc_pilot: tuple[TemperatureScore, ...] = ()  # how it was chosen (evaluation.temperature)

    @property
    def sampling_temperature(self) -> float:
        """The temperature self-consistency's samples were drawn at."""
        return sampling_temperature(self.sc_temperature, self.settings.sc_temperature)

    def budget(self, against: CouncilKind) -> BudgetMatch:
        """The self-consistency budget match against one council method."""
        return next(b for b in self.budgets if b.against == against)
