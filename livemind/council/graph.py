"""The LiveMind state machine. The only module that imports langgraph.

    START → route ─┬─ Send(expert) × N ──┐            (parallel: independent answers)
                   └─ turn ⟲ ────────────┤            (turn-based: one model at a time)
                                         ▼
                                      collect ── agreement, stop rules ──┬─→ synthesize → END
                                         ▲                               │
                                         └──── next round (Send / turn) ─┘

Rounds are bounded by `collect` itself (max_rounds), never by LangGraph's recursion limit.
"""

from __future__ import annotations

import logging
import operator
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Send

from livemind.config import DebateSettings, LiveMindConfig
from livemind.council.chat_model import ExpertChatModel
from livemind.council.embeddings import Embedder, Vectors, mean_pairwise_similarity
from livemind.council.extraction import extract_answer
from livemind.council.prompts import (
    expert_seed,
    first_answer_messages,
    is_unchanged,
    label_for,
    revision_messages,
    synthesis_messages,
    turn_messages,
)
from livemind.council.router import COUNCIL_MIN_EXPERTS, Router
from livemind.council.strategies import debate_trigger, round_agreement, select_pick, tally, vote_pick
from livemind.council.synthesis import central_index, dissent
from livemind.engine.backends.base import LoadTarget
from livemind.engine.runner import ExpertRunner
from livemind.errors import GenerationCancelled, LiveMindError
from livemind.types import (
    ChatMessage,
    Completion,
    Consistency,
    DebateResult,
    DroppedExpert,
    ExpertSpec,
    Position,
    RoundRecord,
    RouteDecision,
)

LOG = logging.getLogger("livemind")


class DebateState(TypedDict, total=False):
    """The graph state. Keys written by parallel branches carry a reducer."""

    question: str
    session_id: str
    seed: int | None
    requested_mode: str
    requested_experts: list[str]
    max_rounds: int
    max_tokens: int | None
    started_at: float
    routing: dict[str, Any]
    experts: list[str]
    mode: str
    mode_reason: str
    round: int
    positions: Annotated[list[dict[str, Any]], operator.add]
    dropped: Annotated[list[dict[str, Any]], operator.add]
    history: list[dict[str, Any]]
    stop_reason: str
    result: dict[str, Any]
    strategy: str
    selective: bool
    samples: int
    debate_triggered: bool | None
    trigger_reason: str
    # Send payload only: which expert (and which of its samples) a branch runs.
    expert_name: str
    sample: int


@dataclass
class GraphRuntime:
    """What the nodes need: configuration, the runner (pool), router and embedder."""

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


def _positions(state: DebateState) -> list[Position]:
    return [Position(**p) for p in state.get("positions", [])]


def _active(state: DebateState) -> list[str]:
    gone = {d["expert"] for d in state.get("dropped", [])}
    return [e for e in state.get("experts", []) if e not in gone]


def _latest(positions: Sequence[Position], names: Sequence[str], up_to_round: int) -> list[Position]:
    latest: dict[str, Position] = {}
    for p in positions:
        if p.round <= up_to_round and p.expert in names and (
                p.expert not in latest or p.round >= latest[p.expert].round):
            latest[p.expert] = p
    return [latest[n] for n in names if n in latest]


def _is_sampling_round(state: DebateState) -> bool:
    return state.get("strategy") == "select" and state.get("round", 0) == 0


def _slots(state: DebateState) -> list[tuple[str, int]]:
    """(expert, sample) pairs that answer this round: k samples each in a `select` round, else one."""
    k = state.get("samples", 1) if _is_sampling_round(state) else 1
    return [(name, i) for name in _active(state) for i in range(k)]


def _waiting(state: DebateState) -> list[tuple[str, int]]:
    """Slots of this round that have not answered yet (turn-based mode)."""
    answered = {(p["expert"], p.get("sample", 0)) for p in state.get("positions", []) if p["round"] == state["round"]}
    return [slot for slot in _slots(state) if slot not in answered]


@dataclass
class _Outcome:
    """The final answer as it is being decided: its text, who gave it, what it cost."""

    tokens: int
    prompt_tokens: int
    text: str = ""
    by: str = ""
    error: str | None = None
    consistency: tuple[Consistency, ...] = ()


def _synthesise(runtime: GraphRuntime, state: DebateState, final: Sequence[Position], vectors: Vectors,
                outcome: _Outcome) -> None:
    """The synthesiser writes the answer; on failure the most central position stands and the error is kept."""
    settings = runtime.config.debate
    name = settings.synthesizer
    outcome.by = name
    _emit({"event": "synthesis_started", "synthesizer": name})
    try:
        message = ExpertChatModel(
            runner=runtime.runner, expert=runtime.spec(name),
            seed=expert_seed(state.get("seed"), "synthesis", state["round"]),
            max_tokens=state.get("max_tokens"), timeout_s=settings.expert_timeout_s,
            cancel=runtime.cancel_event(state["session_id"]),
        ).with_config(metadata={"expert": name, "round": "synthesis"}, tags=["synthesis"]).invoke(
            _to_langchain(synthesis_messages(runtime.spec(name), state["question"], final,
                                             is_numeric=tally([p.text for p in final]).is_checkable)))
        completion = Completion(**message.response_metadata["livemind_completion"])
        outcome.tokens += completion.completion_tokens
        outcome.prompt_tokens += completion.prompt_tokens
        outcome.text = completion.text
        if not outcome.text.strip():
            outcome.error = f"synthesiser '{name}' returned an empty answer"
    except GenerationCancelled:
        if runtime.cancel_event(state["session_id"]).is_set():
            raise
        outcome.error = f"synthesiser '{name}' timed out"
    except LiveMindError as exc:
        outcome.error = f"synthesiser '{name}' failed: {exc}"
    if outcome.error:
        central = final[central_index(vectors)]
        outcome.text = central.text
        outcome.by = f"fallback: most central position ({central.expert})"


def _stop_reason(settings: DebateSettings, state: DebateState, current: Sequence[Position], agreement: float,
                 unchanged: bool) -> str:
    """Why the council stops after this round, or "" to go on."""
    r, strategy = state["round"], state.get("strategy", "debate")
    started = len(state.get("experts", []))
    max_rounds = state.get("max_rounds", settings.max_rounds)
    if not current:
        return "no expert answered"
    if started >= settings.quorum and len({p.expert for p in current}) < settings.quorum:
        return f"quorum lost: {len({p.expert for p in current})} of {started} experts remain, quorum is {settings.quorum}"
    if len(current) == 1:
        return "single expert"
    if strategy == "vote":
        return "vote: the first answers decide"
    if strategy == "select":
        return f"select: {state.get('samples', settings.samples)} samples per expert decide"
    if r == 0 and max_rounds == 0:
        return "no revision rounds requested"
    if r > 0 and state.get("selective", settings.selective) and agreement >= settings.agreement_threshold:
        return f"agreement {agreement:.2f} ≥ {settings.agreement_threshold:.2f}"
    if unchanged:
        return "no expert changed its answer"
    if r > 0 and r >= max_rounds:
        return f"reached the maximum of {max_rounds} rounds"
    return ""


def _emit(event: dict[str, Any]) -> None:
    get_stream_writer()(event)


def build_graph(runtime: GraphRuntime, *, checkpointer: Any = None) -> CompiledStateGraph:
    """Build and compile the LiveMind graph over a runtime."""
    settings = runtime.config.debate

    def route(state: DebateState) -> dict[str, Any]:
        requested = state.get("requested_mode", "auto")
        if state.get("routing"):  # planned by the caller (`LiveMind.route`): the question is embedded once
            decision = RouteDecision(**state["routing"])
        else:
            decision = runtime.router.route(state["question"], mode=requested,  # type: ignore[arg-type]
                                            experts=state.get("requested_experts") or None,
                                            min_experts=COUNCIL_MIN_EXPERTS)
        mode, reason = decision.mode, decision.reason
        if mode == "parallel" and len(decision.selected) > 1:
            targets = _estimable_targets(runtime, decision.selected)
            fits, needed, room = runtime.runner.pool.fits_together(targets)
            if not fits:
                mode = "turns"
                models = sorted({t.model for t in targets})
                pool = runtime.runner.pool
                if len({t.key for t in targets if not t.is_remote}) > pool.max_warm:  # fits_together sized nothing
                    why = f"are more than the {pool.max_warm} kept loaded at once (max_warm)"
                else:
                    why = f"need {needed / 2**20:.0f} MiB together but only {room / 2**20:.0f} MiB fit under the RAM limit"
                reason = f"{reason}; switched to turn-based: models {', '.join(models)} {why}"
        _emit({"event": "route", "selected": list(decision.selected), "mode": mode, "reason": reason,
               "scores": [s.model_dump() for s in decision.scores]})
        return {"routing": decision.model_dump(mode="json"), "experts": list(decision.selected), "mode": mode,
                "mode_reason": reason, "round": 0, "started_at": state.get("started_at") or time.time(),
                "session_id": state.get("session_id") or uuid.uuid4().hex[:12]}

    def dispatch(state: DebateState) -> list[Send] | str:
        if state["mode"] == "turns":
            return "turn"
        return [Send("expert", {**state, "expert_name": name, "sample": k}) for name, k in _slots(state)]

    def answer(state: DebateState, name: str, earlier_this_round: Sequence[Position], sample: int = 0) -> dict[str, Any]:
        """One expert's answer (or one of its `select` samples) for the current round, or its drop record."""
        spec = runtime.spec(name)
        is_sampling = _is_sampling_round(state)
        names = state["experts"]
        r = state["round"]
        positions = _positions(state)
        own = sorted((p for p in positions if p.expert == name), key=lambda p: p.round)
        if r == 0:
            messages = turn_messages(spec, state["question"], earlier_this_round) if earlier_this_round \
                and not is_sampling else first_answer_messages(spec, state["question"])
        else:
            others_by_round = [
                [p for p in _latest(positions, names, k) if p.expert != name and p.round == k]
                or [p for p in _latest(positions, names, k) if p.expert != name]
                for k in range(r)
            ]
            if earlier_this_round:  # turn-based: the latest revisions of those who went first
                others_by_round[-1] = [p for p in _latest(positions, names, r - 1) if p.expert != name
                                       and p.expert not in {q.expert for q in earlier_this_round}] + list(earlier_this_round)
            messages = revision_messages(spec, state["question"], own, others_by_round)
        cancel = runtime.cancel_event(state["session_id"])
        _emit({"event": "expert_started", "expert": name, "round": r})
        model = ExpertChatModel(
            runner=runtime.runner, expert=spec, max_tokens=state.get("max_tokens"), timeout_s=settings.expert_timeout_s,
            seed=expert_seed(state.get("seed"), f"{name}#{sample}" if is_sampling else name, r), cancel=cancel,
            temperature=max(spec.sampling.temperature, settings.select_temperature) if is_sampling else None,
            conversation=None if is_sampling else f"{state['session_id']}:{name}")
        try:
            message = model.with_config(metadata={"expert": name, "round": r}, tags=[f"expert:{name}"]).invoke(
                _to_langchain(messages))
        except GenerationCancelled as exc:
            if cancel.is_set():
                raise
            return _drop(name, r, exc)
        except LiveMindError as exc:
            return _drop(name, r, exc)
        completion = Completion(**message.response_metadata["livemind_completion"])
        if not completion.text.strip():
            return _drop(name, r, LiveMindError("the expert returned an empty answer"))
        previous = own[-1].text if own else None
        position = Position(expert=name, label=label_for(names.index(name)), round=r, text=completion.text, sample=sample,
                            tokens=completion.completion_tokens, prompt_tokens=completion.prompt_tokens,
                            total_s=round(completion.total_s, 3),
                            changed=previous is None or " ".join(previous.split()) != " ".join(completion.text.split()))
        _emit({"event": "expert_finished", "expert": name, "round": r, "tokens": position.tokens,
               "seconds": position.total_s})
        return {"positions": [position.model_dump()]}

    def _drop(name: str, r: int, exc: Exception) -> dict[str, Any]:
        reason = str(exc)
        _emit({"event": "expert_dropped", "expert": name, "round": r, "reason": reason})
        return {"dropped": [DroppedExpert(expert=name, round=r, reason=reason).model_dump()]}

    def expert(state: DebateState) -> dict[str, Any]:
        return answer(state, state["expert_name"], (), state.get("sample", 0))

    def turn(state: DebateState) -> dict[str, Any]:
        r = state["round"]
        done_now = [p for p in _positions(state) if p.round == r]
        name, k = _waiting(state)[0]
        return answer(state, name, done_now, k)

    def after_turn(state: DebateState) -> str:
        return "turn" if _waiting(state) else "collect"

    def collect(state: DebateState) -> dict[str, Any]:
        r = state["round"]
        active = _active(state)
        positions = _positions(state)
        if _is_sampling_round(state):
            current = [p for p in positions if p.round == r and p.expert in active]
        else:
            current = [p for p in _latest(positions, active, r) if p.round == r]
        previous = [p for p in _latest(positions, active, r - 1)] if r > 0 else []
        similarity = mean_pairwise_similarity(runtime.embedder.embed([p.text for p in current])) if current else 0.0
        round_tally = tally([p.text for p in current])
        agreement = round_agreement(round_tally, similarity)
        unchanged = r > 0 and is_unchanged(previous, current)
        record = RoundRecord(round=r, agreement=round(agreement, 4), positions=tuple(current), changed=not unchanged,
                             answers=round_tally.values)
        history = [*state.get("history", []), record.model_dump()]
        _emit({"event": "round_done", "round": r, "agreement": record.agreement, "experts": [p.expert for p in current],
               "answers": list(round_tally.values)})
        update: dict[str, Any] = {"history": history}
        stop = _stop_reason(settings, state, current, agreement, unchanged)
        if not stop and r == 0:
            triggered, why = (debate_trigger(round_tally, similarity, settings.agreement_threshold)
                              if state.get("selective", settings.selective)
                              else (True, "selective debate is off: the revision rounds always run"))
            update |= {"debate_triggered": triggered, "trigger_reason": why}
            stop = "" if triggered else why
        if stop:
            return {**update, "stop_reason": stop}
        return {**update, "round": r + 1}

    def after_collect(state: DebateState) -> list[Send] | str:
        if state.get("stop_reason"):
            return "synthesize"
        return dispatch(state)

    def synthesize(state: DebateState) -> dict[str, Any]:
        active = _active(state)
        positions = _positions(state)
        strategy = state.get("strategy", "debate")
        if strategy == "select":
            final = [p for p in positions if p.round == 0 and p.expert in active]
        else:
            final = _latest(positions, active, state["round"])
        if not final:  # every expert dropped in a revision round: their last finished answers still stand
            final = _latest(positions, state.get("experts", []), state["round"])
        dropped = tuple(DroppedExpert(**d) for d in state.get("dropped", []))
        history = [RoundRecord(**h) for h in state.get("history", [])]
        outcome = _Outcome(tokens=sum(p.tokens for p in positions), prompt_tokens=sum(p.prompt_tokens for p in positions))
        vectors = runtime.embedder.embed([p.text for p in final]) if len(final) > 1 else None
        if not final:
            outcome.error = "no expert produced an answer: " + "; ".join(f"{d.expert}: {d.reason}" for d in dropped)
        elif vectors is None:
            outcome.text, outcome.by = final[0].text, final[0].expert
        elif strategy == "vote":
            pick, _ = vote_pick(final, vectors)
            outcome.text, outcome.by = pick.text, f"vote: {pick.expert}"
        elif strategy == "select":
            pick, outcome.consistency = select_pick(final, vectors)
            outcome.text, outcome.by = pick.text, f"select: {pick.expert}"
        else:
            _synthesise(runtime, state, final, vectors, outcome)
        dissent_notes: list[str] = []
        if vectors is not None and outcome.text:
            answer_vector = runtime.embedder.embed([outcome.text])[0]
            dissent_notes, _ = dissent(final, vectors, answer_vector, settings.dissent_threshold)
        first = [p for p in positions if p.round == 0 and p.sample == 0]
        result = DebateResult(
            session_id=state["session_id"], question=state["question"], answer=outcome.text,
            agreement=round(history[-1].agreement if history else 0.0, 4), positions=tuple(final),
            dissent=tuple(dissent_notes), rounds=max(0, len(history) - 1), history=tuple(history),
            routing=RouteDecision(**state["routing"]), mode=state["mode"],  # type: ignore[arg-type]
            mode_reason=state["mode_reason"], stop_reason=state.get("stop_reason", ""), synthesizer=outcome.by,
            synthesis_error=outcome.error, dropped=dropped, tokens=outcome.tokens, prompt_tokens=outcome.prompt_tokens,
            total_s=round(time.time() - state.get("started_at", time.time()), 3), seed=state.get("seed"),
            strategy=strategy, debate_triggered=state.get("debate_triggered"),  # type: ignore[arg-type]
            trigger_reason=state.get("trigger_reason", ""), first_vote=tally([p.text for p in first]).winner,
            answer_value=extract_answer(outcome.text).value if outcome.text else None, consistency=outcome.consistency,
        )
        _emit({"event": "synthesis", "answer": outcome.text, "agreement": result.agreement, "error": outcome.error})
        return {"result": result.model_dump(mode="json")}

    builder = StateGraph(DebateState)
    builder.add_node("route", route)
    builder.add_node("expert", expert)
    builder.add_node("turn", turn)
    builder.add_node("collect", collect)
    builder.add_node("synthesize", synthesize)
    builder.add_edge(START, "route")
    builder.add_conditional_edges("route", dispatch, ["expert", "turn"])
    builder.add_edge("expert", "collect")
    builder.add_conditional_edges("turn", after_turn, ["turn", "collect"])
    builder.add_conditional_edges("collect", after_collect, ["expert", "turn", "synthesize"])
    builder.add_edge("synthesize", END)
    return builder.compile(checkpointer=checkpointer)


def _estimable_targets(runtime: GraphRuntime, names: Sequence[str]) -> list[LoadTarget]:
    """Load targets of the experts whose model can be sized; the others are dropped when they answer, saying why."""
    targets = []
    for name in names:
        try:
            target = runtime.runner.target_for(runtime.spec(name))
            runtime.runner.pool.estimate(target)
        except LiveMindError:  # a missing or corrupt file must not cost the other experts their round
            continue
        targets.append(target)
    return targets


def _to_langchain(messages: Sequence[ChatMessage]) -> list[tuple[str, str]]:
    roles = {"system": "system", "user": "human", "assistant": "ai"}
    return [(roles[m.role], m.content) for m in messages]


def run_config(session_id: str) -> dict[str, Any]:
    """The LangGraph run config of one session."""
    return {"configurable": {"thread_id": session_id}, "recursion_limit": 200}
