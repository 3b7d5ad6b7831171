"""LiveMind: the Python API. Owns the catalog, pool, router, compiled graph and sessions."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from livemind import limits
from livemind.async_api import AsyncApi
from livemind.chat import Messages, question_of
from livemind.config import DEFAULT_COUNCIL, DEFAULT_HOME, LiveMindConfig, load_config
from livemind.council.checkpoint import open_checkpointer
from livemind.council.code import CODE_MAX_TOKENS, CodeCouncil, CodeResult
from livemind.council.code.consensus import LEAD_TEMPERATURE
from livemind.council.embeddings import Embedder, SentenceEmbedder
from livemind.council.language import routing_pivot
from livemind.council.options import CouncilOptions
from livemind.council.plugins import check_config_strategy, strategy_named
from livemind.council.prompts import first_answer_messages
from livemind.council.router import COUNCIL_MIN_EXPERTS, Router
from livemind.council.sessions import SessionRecord, SessionStore
from livemind.council.state import GraphRuntime
from livemind.engine.backends.base import BackendLoader, CancelSignal, TokenCallback
from livemind.engine.backends.factory import default_loader
from livemind.engine.catalog import ModelCatalog
from livemind.engine.pool import ModelPool
from livemind.engine.ram import MemoryReading, RamGuard, ram_use
from livemind.engine.runner import ExpertRunner
from livemind.engine.scheduler import ScheduleMode
from livemind.errors import LiveMindError, SessionError, UnknownExpertError
from livemind.events import (
    EVENT_TYPES,
    DebateEvent,
    ResultEvent,
    SynthesisToken,
    TokenEvent,
    final_result,
)
from livemind.types import (
    Answer,
    ConsensusMode,
    DebateResult,
    ExpertSpec,
    ExpertStatus,
    PoolStatus,
    RamUse,
    RouteDecision,
)

LOG = logging.getLogger("livemind")

class LiveMind(AsyncApi):
    """Ask one expert, convene a consensus, or run a debate, on local models."""

    def __init__(
        self,
        config: LiveMindConfig,
        *,
        home: Path = DEFAULT_HOME,
        loader: BackendLoader | None = None,
        embedder: Embedder | None = None,
        ram_budget_bytes: int | None = None,
        schedule_mode: ScheduleMode = "latency",
    ) -> None:
        self.home = home
        self.config = config
        check_config_strategy(config.debate.strategy)
        if config.debate.function_strategy:
            check_config_strategy(config.debate.function_strategy, field="debate.function_strategy")
        self.catalog = ModelCatalog(home)
        pool_settings = config.pool
        guard = RamGuard(
            hard_limit_percent=pool_settings.hard_limit_percent,
            soft_target_percent=pool_settings.soft_target_percent,
            budget_bytes=ram_budget_bytes or pool_settings.budget_bytes,
        )
        if loader is None:
            loader = default_loader()
        self.pool = ModelPool(loader, guard, max_warm=pool_settings.max_warm, idle_ttl_s=pool_settings.idle_ttl_s)
        self.runner = ExpertRunner(self.pool, self.catalog, mode=schedule_mode)
        if embedder is None:
            embedder = SentenceEmbedder(self.catalog.path_of(self.catalog.entry(config.router.embedding_model)),
                                        backend=config.router.embedding_backend)
        self.embedder = embedder
        # a question not in English is routed on its translation by the council's own model (docs/languages.md)
        self.router = Router(config.experts, embedder, config.router, cache_dir=home / "cache",
                             pivot=routing_pivot(config, self.runner))
        self.runtime = GraphRuntime(config=config, runner=self.runner, router=self.router, embedder=embedder)
        # opened now: an unwritable home is refused at start; the graph is built on first council use
        self._checkpointer = open_checkpointer(home / "sessions" / "checkpoints.sqlite")
        self._graph: Any = None
        self._graph_lock = threading.Lock()
        self.sessions = SessionStore(home / "sessions" / "sessions.sqlite", home / "transcripts")

    @property
    def graph(self) -> Any:
        """The compiled LangGraph state machine, built on first use (`ask` never imports LangGraph).

        Each run passes `context=self.runtime`; its checkpoints go to home/sessions/checkpoints.sqlite.
        """
        with self._graph_lock:
            if self._graph is None:
                from livemind.council.graph import build_graph  # LangGraph's graph and langchain-core: ~0.7 s

                self._graph = build_graph(checkpointer=self._checkpointer)
            return self._graph

    @classmethod
    def open(cls, *, home: Path | None = None, config_path: Path | None = None, council: str = DEFAULT_COUNCIL,
             ram_budget_bytes: int | None = None, schedule_mode: ScheduleMode = "latency") -> LiveMind:
        """Open LiveMind with a shipped council (or the file at config_path) under home.

        schedule_mode: `latency` (a session's batch runs alone, with every core) or `throughput`
        (other clients' requests join the running batch at the next token).
        """
        root = home or DEFAULT_HOME
        config = load_config(config_path, ModelCatalog(root), council=council)
        return cls(config, home=root, ram_budget_bytes=ram_budget_bytes, schedule_mode=schedule_mode)

    def _check_experts(self, experts: Sequence[str] | None) -> list[str] | None:
        if not experts:
            return None
        limits.check_council(experts=len(experts))
        for name in experts:
            if name not in self.config.expert_names:
                raise UnknownExpertError(name, self.config.expert_names)
        return list(dict.fromkeys(experts))

    # -- single expert -------------------------------------------------------------------------

    def route(self, question: str, *, mode: ConsensusMode = "auto", experts: Sequence[str] | None = None,
              is_council: bool = False) -> RouteDecision:
        """Score every expert for a question without generating anything.

        `is_council` routes as a debate or consensus does: at least two experts in auto mode.
        """
        chosen = self._check_experts(experts)
        decision = self.router.route(limits.check_question(question), mode=mode, experts=chosen,
                                     min_experts=COUNCIL_MIN_EXPERTS if is_council else 1)
        return decision if chosen else self.runtime.prefer_loaded(decision)

    def ask(self, question: str | None = None, *, messages: Messages | None = None,
            expert: str | None = None, max_tokens: int | None = None, seed: int | None = None,
            temperature: float | None = None, on_token: TokenCallback | None = None,
            cancel: CancelSignal | None = None, batch_group: str | None = None) -> Answer:
        """One expert answers (routed unless named), streaming tokens to on_token.

        Concurrent calls that name the same `batch_group` decode as one batch (GenerationRequest.batch_group).
        """
        question = limits.check_question(question_of(question, messages))
        limits.check_generation(max_tokens=max_tokens, seed=seed, temperature=temperature)
        routing: RouteDecision | None = None
        if expert is None:
            routing = self.runtime.prefer_loaded(self.router.route(question, mode="single"))
            expert = routing.selected[0]
        elif expert not in self.config.expert_names:
            raise UnknownExpertError(expert, self.config.expert_names)
        spec, before = self.config.expert(expert), self.pool.guard.read()
        completion = self.runner.generate(spec, first_answer_messages(spec, question), seed=seed,
                                          max_tokens=max_tokens, temperature=temperature, on_token=on_token,
                                          cancel=cancel, batch_group=batch_group)
        return Answer(answer=completion.text, expert=expert, model=spec.model, tokens=completion.completion_tokens,
                      prompt_tokens=completion.prompt_tokens, ttft_s=round(completion.ttft_s, 4),
                      total_s=round(completion.total_s, 4), tok_s=round(completion.decode_tok_s, 2),
                      finish_reason=completion.finish_reason, routing=routing,
                      cached_prompt_tokens=completion.cached_prompt_tokens, ram=self._ram_since(before, f"ask {expert}"),
                      stages=completion.stages, mean_logprob=completion.mean_logprob)

    # -- consensus and debate ------------------------------------------------------------------

    def stream(self, question: str | None = None, *, messages: Messages | None = None,
               options: CouncilOptions | None = None, session_id: str | None = None,
               routing: RouteDecision | None = None, **option_values: object) -> Iterator[DebateEvent]:
        """Run a council, yielding events (tokens included) as they happen; the last one holds the result.

        The council's options come as `options` (a CouncilOptions), or as keyword values of its fields
        (`rounds=2, strategy="vote"`), or both (the keyword values win); livemind.council.options
        documents each one and its default. An option out of bounds is an InvalidRequestError naming it.

        `routing` reuses a decision from `route(question, is_council=True)` (a server that plans
        admission from it), so the question is routed once; its experts must be this config's.
        """
        question = limits.check_question(question_of(question, messages))
        options = (options or CouncilOptions()).with_values(**option_values)
        chosen = self._check_experts(list(routing.selected) if routing is not None else options.experts)
        options = options.with_values(experts=chosen).resolved(self.config.debate, question)
        strategy_named(options.strategy or "debate")  # an unknown name is refused here, naming the registered ones
        session_id = session_id or uuid.uuid4().hex[:12]
        params = options.model_dump(mode="json")
        self._save_quietly(lambda: self.sessions.create(session_id, question, params))
        inputs: dict[str, Any] = {"question": question, "session_id": session_id, "options": options,
                                  "positions": [], "dropped": [], "history": []}
        if routing is not None:
            inputs["routing"] = routing
        yield from self._run(inputs, session_id)

    def resume(self, session_id: str) -> Iterator[DebateEvent]:
        """Continue a session from its last checkpoint: finished steps are neither redone nor lost."""
        from livemind.council.graph import run_config

        state = self.graph.get_state(run_config(session_id))
        if not state.values:
            raise SessionError(f"no checkpoint for session '{session_id}'", hint="run `livemind sessions list`")
        if state.values.get("result"):
            result = DebateResult.model_validate(state.values["result"])
            yield ResultEvent(result=result)
            return
        if "experts" in state.values and isinstance(state.values.get("options"), dict):  # routed, JSON state
            raise SessionError(f"session '{session_id}' was saved by an older LiveMind and cannot resume",
                               hint=f"run it again: `livemind sessions replay {session_id}`")
        self._save_quietly(lambda: self.sessions.mark(session_id, "running"))
        yield from self._run(None, session_id)

    def _run(self, inputs: dict[str, Any] | None, session_id: str) -> Iterator[DebateEvent]:
        from livemind.council.graph import run_config

        cancel, before = self.runtime.cancel_event(session_id), self.pool.guard.read()
        cancel.clear()
        try:
            for mode, payload in self.graph.stream(inputs, run_config(session_id), context=self.runtime,
                                                   stream_mode=["messages", "custom"],
                                                   durability="sync"):  # a kill never loses a finished step
                if mode == "messages":
                    chunk, meta = payload
                    text = chunk.content if isinstance(chunk.content, str) else ""
                    if text:
                        kind = SynthesisToken if meta.get("phase") == "synthesis" else TokenEvent
                        yield kind(expert=meta.get("expert"), round=meta.get("round"), text=text)
                elif mode == "custom" and isinstance(payload, EVENT_TYPES):
                    yield payload
        except BaseException:
            self._save_quietly(lambda: self.sessions.mark(session_id, "cancelled" if cancel.is_set() else "interrupted"))
            raise
        finally:
            self.runtime.cancels.pop(session_id, None)
        values = self.graph.get_state(run_config(session_id)).values
        self._checkpointer.release(session_id)  # in-memory checkpoints of a session whose disk refused them
        result = DebateResult.model_validate(values["result"])
        result = result.model_copy(update={"ram": self._ram_since(before, f"session {session_id}")})
        self._save_quietly(lambda: self.sessions.finish(result))
        yield ResultEvent(result=result)

    def _ram_since(self, before: MemoryReading, what: str) -> RamUse:
        """RAM before and after a request, logged (the seed's rule) and returned for the result."""
        return ram_use(before, self.pool.guard.read(), self.pool.guard.hard_limit_percent, what=what)

    def _save_quietly(self, action: Callable[[], object]) -> None:
        """Saving a session must never cost the user the answer."""
        try:
            action()
        except SessionError as exc:
            LOG.warning("%s", exc)

    def debate(self, question: str | None = None, *, messages: Messages | None = None,
               options: CouncilOptions | None = None, session_id: str | None = None,
               routing: RouteDecision | None = None, on_event: Callable[[DebateEvent], None] | None = None,
               **option_values: object) -> DebateResult:
        """Run a council to the end and return its result (see `stream` and CouncilOptions for the options).

        A debate unless `strategy` names another: the config's `[debate] strategy` (vote by default)
        is for council calls that ask only for an answer (`consensus`, `stream`).
        """
        options = (options or CouncilOptions()).with_values(**option_values).for_debate()
        return final_result(self.stream(question, messages=messages, options=options, session_id=session_id,
                                        routing=routing), on_event)

    def consensus(self, question: str | None = None, *, messages: Messages | None = None,
                  options: CouncilOptions | None = None, session_id: str | None = None,
                  routing: RouteDecision | None = None, on_event: Callable[[DebateEvent], None] | None = None,
                  **option_values: object) -> DebateResult:
        """Independent answers, then the strategy's final answer; no revision rounds (use `debate` for those).

        `transcript` still applies: the first answers' prompts differ between the layouts (see `stream`).
        """
        options = (options or CouncilOptions()).with_values(**option_values).for_consensus()
        return final_result(self.stream(question, messages=messages, options=options,
                                        session_id=session_id, routing=routing), on_event)

    def code(self, task: str, *, signature: str | None = None, tests: str | None = None,
             experts: Sequence[str] | None = None, samples: int = 1, temperature: float = 0.0,
             seed: int | None = None, max_tokens: int | None = None, probes: int = 0, lead_samples: int = 0,
             lead_temperature: float = LEAD_TEMPERATURE, on_token: Callable[[str, str], None] | None = None) -> CodeResult:
        """Code consensus: every expert writes the function, the sandbox runs each, what they do decides.

        Experts default to the council the router convenes for the task; greedy (temperature 0) by default.
        probes: test inputs each expert also writes; what the candidates return on them joins their behaviour.
        lead_samples: more candidates from the first expert at lead_temperature (a large pool for the price
        of one prefill: the candidates decode as one batch).
        on_token(expert, piece) sees every candidate's tokens as they are generated.
        """
        limits.check_question(f"{task}\n{signature or ''}\n{tests or ''}")  # what the experts will read
        limits.check_generation(max_tokens=max_tokens, seed=seed, temperature=temperature)
        limits.check_range("lead_temperature", lead_temperature, 0.0, limits.TEMPERATURE_MAX, hint="use 0-2 (0 is greedy)")
        chosen = self._check_experts(experts) or list(self.route(task, mode="parallel", is_council=True).selected)
        group = f"code-{uuid.uuid4().hex[:12]}"  # the candidates decode as one batch, as a session's experts do

        def ask(question: str, expert: str, t: float, s: int | None, limit: int) -> Answer:
            streamed = (lambda piece: on_token(expert, piece)) if on_token is not None else None
            return self.ask(question, expert=expert, temperature=t, seed=s, max_tokens=limit, on_token=streamed,
                            batch_group=group)

        return CodeCouncil(ask).run(task, chosen, signature=signature, tests=tests, samples=samples, temperature=temperature,
                                    seed=seed, max_tokens=max_tokens or CODE_MAX_TOKENS, probes=probes,
                                    lead_samples=lead_samples, lead_temperature=lead_temperature)

    def cancel(self, session_id: str) -> None:
        """Stop a running session between tokens."""
        self.runtime.cancel_event(session_id).set()

    def replay(self, session_id: str, *, on_event: Callable[[DebateEvent], None] | None = None) -> DebateResult:
        """Run a finished session again with the same question, parameters and seed."""
        record = self.sessions.get(session_id)
        known = {k: v for k, v in record.params.items() if k in CouncilOptions.model_fields}
        return self.debate(record.question, options=CouncilOptions.of(**known), on_event=on_event)

    def session(self, session_id: str) -> SessionRecord:
        """One stored session."""
        return self.sessions.get(session_id)

    def list_sessions(self, limit: int = 50) -> list[SessionRecord]:
        """Recent sessions, newest first."""
        return self.sessions.list(limit)

    def status(self) -> PoolStatus:
        """RAM, the budget and the loaded models."""
        return self.pool.status()

    def experts(self) -> tuple[ExpertStatus, ...]:
        """Every configured expert, and whether its model is loaded now (a remote one needs no RAM here)."""
        loaded = {m.key for m in self.pool.status().loaded}

        def is_loaded(spec: ExpertSpec) -> bool:
            try:
                return self.runner.target_for(spec).key in loaded
            except LiveMindError:  # a missing model file is not loaded; asking it says why
                return False

        return tuple(ExpertStatus(name=s.name, model=s.model, description=s.description, is_loaded=is_loaded(s),
                                  is_remote=s.remote is not None) for s in self.config.experts)

    @property
    def schedule_mode(self) -> ScheduleMode:
        """`latency` or `throughput` (how the scheduler shares a model between requests)."""
        return self.runner.scheduler.mode

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Warm the router and start unloading idle models after `idle_ttl_s` (idempotent).

        Every long-running entry point (`livemind serve`, `livemind mcp`, an app that embeds
        LiveMind) calls this once; `close()` stops it.
        """
        ttl = self.config.pool.idle_ttl_s
        self.pool.start_reaper(interval_s=min(15.0, max(0.2, ttl / 4)))  # an idle model goes within ttl * 1.25
        self.router.warm()

    def close(self) -> None:
        """Stop the reaper, unload models and close both databases."""
        self.pool.stop_reaper()
        self.pool.unload_all()
        self.sessions.close()
        self._checkpointer.conn.close()

    def __enter__(self) -> LiveMind:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
