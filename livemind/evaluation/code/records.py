"""The code eval's values: one judged candidate, one method's run on one problem, the plan, the report."""

from __future__ import annotations

from pydantic import Field

from livemind.council.code.evidence import Evidence
from livemind.council.code.programs import Program
from livemind.types import Value

GENERATION_METHODS = ("single", "council-greedy", "samples", "council-sampled", "probes", "personas-greedy", "debate",
                      "select", "more-samples")
"""What a run generates, cheapest first (`probes` after the pools it runs). Scored methods (report.py) are read from these.

`more-samples`: one more sample of the best expert per persona, so self-consistency can be read at the
size of the pool of every persona's greedy answer and the k samples (report.py `_pool_scores`).
"""


class CodeEvalSettings(Value):
    """What a HumanEval run asks for; a resumed run must ask for the same (methods may grow)."""

    task: str = "humaneval"
    seed: int = 0
    pilot_n: int = Field(14, ge=0, le=100)  # held out: chooses the best expert and the sampling temperature
    limit: int | None = Field(None, ge=1, le=164)  # score only the first `limit` problems (a quick run)
    samples: int = Field(8, ge=1, le=64)  # the best expert's samples per problem
    max_tokens: int = Field(768, ge=64, le=4096)
    temperatures: tuple[float, ...] = (0.4, 0.8)  # the pilot's choices for sampling
    temperature: float | None = Field(None, gt=0.0, le=2.0)  # fixed sampling temperature: skips the pilot's choice
    pilot_samples: int = Field(4, ge=1, le=32)
    experts: tuple[str, ...] | None = None
    best_expert: str | None = None
    rounds: int = Field(1, ge=1, le=4)
    select_samples: int = Field(2, ge=2, le=8)
    batch: int = Field(4, ge=1, le=16)
    timeout_s: float = Field(10.0, gt=0.0, le=120.0)


class Candidate(Value):
    """One reply as a candidate program, with its evidence (for selection) and its official verdict."""

    expert: str
    sample: int = 0
    round: int = 0
    temperature: float
    text: str
    tokens: int
    prompt_tokens: int
    finish_reason: str
    mean_logprob: float | None = None  # the engine's confidence in the reply (mean token log-prob)
    program: Program
    evidence: Evidence
    official: str  # the sandbox's status on the official tests, or "cut off" / "no code" / "syntax error: …"

    @property
    def is_passed(self) -> bool:
        """Whether the official tests pass."""
        return self.official == "passed"


class MethodRun(Value):
    """What one generation method produced on one problem, judged."""

    method: str
    task_id: str
    temperature: float
    candidates: tuple[Candidate, ...]
    final: Candidate | None = None  # a strategy's own answer (vote's pick, the debate's synthesis, select's pick)
    tokens: int  # every generated token the method spent (revision rounds and synthesis included)
    prompt_tokens: int  # every prompt token the engine evaluated for it
    seconds: float
    detail: str = ""
    # `probes` only: the calls the council's experts wrote, and what each first-round candidate of each
    # pool (samples, council-greedy, council-sampled) returned on them, in the pool's candidate order
    probe_calls: tuple[str, ...] = ()
    probe_behaviour: dict[str, tuple[tuple[str, ...], ...]] = Field(default_factory=dict)


class PilotScore(Value):
    """One choice measured on the held-out pilot."""

    name: str  # an expert, or "T=0.4"
    passed: int
    n: int
    tokens: int
    mean_pass: float | None = None  # sampled: the mean pass rate over samples


class CodePlan(Value):
    """What a run decided before its first scored problem."""

    settings: CodeEvalSettings
    pilot_ids: tuple[str, ...]
    scored_ids: tuple[str, ...]
    council: tuple[str, ...]
    council_reason: str
    best_expert: str
    expert_reason: str
    temperature: float
    temperature_reason: str
    pilot: tuple[PilotScore, ...]
    pilot_seconds: float
    models: dict[str, str]
    machine: str
    started_at: str


class CodeScore(Value):
    """One scored method over the problems every method finished."""

    key: str
    label: str
    kind: str  # "one answer" · "mean over samples" · "oracle"
    n: int
    pass_at_1: float
    ci_low: float
    ci_high: float
    passed: float  # problems passed (a mean over samples for sampled methods)
    generated_tokens: int
    prompt_tokens: int
    seconds: float
    cut_off: int  # candidates the token limit cut off inside their code
    candidates: int
    vs_single: str = ""  # exact McNemar against the greedy single expert: "+a/-b, p=…"
    per_problem: tuple[float, ...] = ()


class CodeReport(Value):
    """The whole report as report.json holds it."""

    task: str
    n: int
    problems: tuple[str, ...]
    methods: tuple[str, ...]
    plan: CodePlan
    scores: tuple[CodeScore, ...]
    selection_rule: str
    seconds_per_problem: float
    notes: tuple[str, ...]
