"""What the LiveMind graph carries: its state, input and output schemas, the runtime context its nodes
read, and the pure helpers that read the state."""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from typing_extensions import TypedDict  # pydantic (the server's JSON schemas) needs it before Python 3.12

from livemind.config import LiveMindConfig
from livemind.council.embeddings import Embedder
from livemind.council.options import CouncilOptions
from livemind.council.plugins import strategy_named
from livemind.council.router import Router, prefer_loaded
from livemind.council.strategy import latest as latest
from livemind.engine.runner import ExpertRunner
from livemind.errors import LiveMindError
from livemind.types import DroppedExpert, ExpertSpec, Position, RoundRecord, RouteDecision


class DebateInput(TypedDict, total=False):
    """What a caller sends: the question and the council's options (`routing`: a plan made beforehand).

    The state holds typed values. A JSON caller (a served graph's client) sends `options` and
    `routing` as JSON objects: `route` validates them once and writes the typed values back.
    """

    question: str
    session_id: str
    options: CouncilOptions  # resolved by `route`: every default filled in from the config
    routing: RouteDecision
    positions: Annotated[list[Position], operator.add]
    dropped: Annotated[list[DroppedExpert], operator.add]
    history: list[RoundRecord]


class DebateOutput(TypedDict, total=False):
    """What a run returns: a DebateResult as JSON (what a served graph's client and `values` readers get)."""

    result: dict[str, Any]


class DebateState(DebateInput, DebateOutput, total=False):
    """The graph state. Keys written by parallel branches carry a reducer."""

    started_at: float
    experts: list[str]
    mode: str
    mode_reason: str
    round: int
    stop_reason: str
    debate_triggered: bool | None
    trigger_reason: str
    # Send payload only: which expert (and which of its samples) a branch runs.
    expert_name: str
    sample: int


@dataclass
class GraphRuntime:
    """The graph's runtime context: configuration, the runner (pool), router and embedder."""

    config: LiveMindConfig
    runner: ExpertRunner
    router: Router
    embedder: Embedder
    cancels: dict[str, threading.Event] = field(default_factory=dict)

    def cancel_event(self, session_id: str) -> threading.Event:
        """The cancel event of one session (created on first use)."""
        return self.cancels.setdefault(session_id, threading.Event())

    def spec(self, name: str) -> ExpertSpec:
        """An expert's configuration."""
        return self.config.expert(name)

    def prefer_loaded(self, decision: RouteDecision) -> RouteDecision:
        """The routing, swapped to experts whose model is loaded when RAM is over the limit and the config allows."""
        if not self.config.pool.prefer_loaded:
            return decision
        pool = self.runner.pool
        ram, limit = pool.guard.read().percent, pool.guard.hard_limit_percent
        if ram <= limit:  # the usual case: one memory read, no pool status on every routed request
            return decision
        loaded = {m.key for m in pool.status().loaded}

        def is_ready(name: str) -> bool:
            spec = self.spec(name)
            return spec.remote is not None or self.runner.target_for(spec).key in loaded

        return prefer_loaded(decision, is_ready=is_ready, ram_percent=ram, limit_percent=limit)


class _ProcessRuntime:
    """The one GraphRuntime of a served graph's runs, opened on first use (no server caller can send one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._provider: Callable[[], GraphRuntime] | None = None
        self._runtime: GraphRuntime | None = None

    def provide(self, provider: Callable[[], GraphRuntime]) -> None:
        with self._lock:
            self._provider = self._provider or provider

    def get(self) -> GraphRuntime:
        with self._lock:
            if self._runtime is None:
                if self._provider is None:
                    raise LiveMindError("the LiveMind graph ran without its runtime context",
                                        hint="pass it: graph.stream(inputs, config, context=mind.runtime); "
                                             "`langgraph dev` serves graphs/livemind_graph.py:make_graph")
                self._runtime = self._provider()
            return self._runtime


_PROCESS = _ProcessRuntime()


def provide_process_runtime(provider: Callable[[], GraphRuntime]) -> None:
    """Name what opens the process-wide runtime of runs that bring no context; called once, at first use."""
    _PROCESS.provide(provider)


def process_runtime() -> GraphRuntime:
    """The process-wide runtime, opened by the provider on first use (thread-safe, at most once)."""
    return _PROCESS.get()


def options_of(state: DebateState) -> CouncilOptions:
    """The run's council options (every default filled in from the config: `route` resolved them)."""
    return state["options"]


def positions_of(state: DebateState) -> list[Position]:
    """Every position so far."""
    return state.get("positions", [])


def active_experts(state: DebateState) -> list[str]:
    """The experts still in the council (not dropped)."""
    gone = {d.expert for d in state.get("dropped", [])}
    return [e for e in state.get("experts", []) if e not in gone]


def samples_this_round(state: DebateState) -> int:
    """How many answers each expert gives this round: the strategy's choice (k in a `select` round, else one)."""
    options = options_of(state)
    return strategy_named(options.strategy or "debate").samples_per_expert(options.samples or 1, state.get("round", 0))


def is_sampling_round(state: DebateState) -> bool:
    """A round in which every expert samples several answers (`select`'s first)."""
    return samples_this_round(state) > 1


def slots(state: DebateState) -> list[tuple[str, int]]:
    """(expert, sample) pairs that answer this round: k samples each in a sampling round, else one."""
    k = samples_this_round(state)
    return [(name, i) for name in active_experts(state) for i in range(k)]


def waiting(state: DebateState) -> list[tuple[str, int]]:
    """Slots of this round that have not answered yet (turn-based mode)."""
    answered = {(p.expert, p.sample) for p in state.get("positions", []) if p.round == state["round"]}
    return [slot for slot in slots(state) if slot not in answered]
