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

import contextlib
import logging
import operator
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Send

from livemind.backends.base import LoadTarget
from livemind.chat_model import ExpertChatModel
from livemind.config import LiveMindConfig
from livemind.debate import (
    expert_seed,
    first_answer_messages,
    is_unchanged,
    label_for,
    revision_messages,
    synthesis_messages,
    turn_messages,
)
from livemind.embeddings import Embedder, mean_pairwise_similarity
from livemind.errors import GenerationCancelled, LiveMindError, SessionError
from livemind.router import COUNCIL_MIN_EXPERTS, Router
from livemind.runner import ExpertRunner
from livemind.synthesis import central_index, dissent
from livemind.types import (
    ChatMessage,
    Completion,
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
    # Send payload only: which expert a branch runs.
    expert_name: str


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


def _emit(event: dict[str, Any]) -> None:
    get_stream_writer()(event)


def build_graph(runtime: GraphRuntime, *, checkpointer: Any = None) -> CompiledStateGraph:
    """Build and compile the LiveMind graph over a runtime."""
    settings = runtime.config.debate

    def route(state: DebateState) -> dict[str, Any]:
        requested = state.get("requested_mode", "auto")
        decision = runtime.router.route(state["question"], mode=requested,  # type: ignore[arg-type]
                                        experts=state.get("requested_experts") or None, min_experts=COUNCIL_MIN_EXPERTS)
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
        return [Send("expert", {**state, "expert_name": name}) for name in _active(state)]

    def answer(state: DebateState, name: str, earlier_this_round: Sequence[Position]) -> dict[str, Any]:
        """One expert's answer for the current round, or its drop record."""
        spec = runtime.spec(name)
        names = state["experts"]
        r = state["round"]
        positions = _positions(state)
        own = sorted((p for p in positions if p.expert == name), key=lambda p: p.round)
        if r == 0:
            messages = turn_messages(spec, state["question"], earlier_this_round) if earlier_this_round \
                else first_answer_messages(spec, state["question"])
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
        model = ExpertChatModel(runner=runtime.runner, expert=spec, seed=expert_seed(state.get("seed"), name, r),
                                max_tokens=state.get("max_tokens"), timeout_s=settings.expert_timeout_s, cancel=cancel,
                                conversation=f"{state['session_id']}:{name}")
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
        position = Position(expert=name, label=label_for(names.index(name)), round=r, text=completion.text,
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
        return answer(state, state["expert_name"], ())

    def turn(state: DebateState) -> dict[str, Any]:
        r = state["round"]
        done_now = [p for p in _positions(state) if p.round == r]
        dropped_now = {d["expert"] for d in state.get("dropped", []) if d["round"] == r}
        waiting = [n for n in _active(state) if n not in {p.expert for p in done_now} and n not in dropped_now]
        return answer(state, waiting[0], done_now)

    def after_turn(state: DebateState) -> str:
        r = state["round"]
        answered = {p["expert"] for p in state.get("positions", []) if p["round"] == r}
        return "turn" if any(n not in answered for n in _active(state)) else "collect"

    def collect(state: DebateState) -> dict[str, Any]:
        r = state["round"]
        active = _active(state)
        positions = _positions(state)
        current = [p for p in _latest(positions, active, r) if p.round == r]
        previous = [p for p in _latest(positions, active, r - 1)] if r > 0 else []
        agreement = mean_pairwise_similarity(runtime.embedder.embed([p.text for p in current])) if current else 0.0
        unchanged = r > 0 and is_unchanged(previous, current)
        record = RoundRecord(round=r, agreement=round(agreement, 4), positions=tuple(current), changed=not unchanged)
        history = [*state.get("history", []), record.model_dump()]
        _emit({"event": "round_done", "round": r, "agreement": record.agreement, "experts": [p.expert for p in current]})
        started = len(state.get("experts", []))
        stop = ""
        if not current:
            stop = "no expert answered"
        elif started >= settings.quorum and len(current) < settings.quorum:
            stop = f"quorum lost: {len(current)} of {started} experts remain, quorum is {settings.quorum}"
        elif len(current) == 1:
            stop = "single expert"
        elif agreement >= settings.agreement_threshold:
            stop = f"agreement {agreement:.2f} ≥ {settings.agreement_threshold:.2f}"
        elif unchanged:
            stop = "no expert changed its answer"
        elif r >= state.get("max_rounds", settings.max_rounds):
            stop = f"reached the maximum of {state.get('max_rounds', settings.max_rounds)} rounds"
        if stop:
            return {"history": history, "stop_reason": stop}
        return {"history": history, "round": r + 1}

    def after_collect(state: DebateState) -> list[Send] | str:
        if state.get("stop_reason"):
            return "synthesize"
        return dispatch(state)

    def synthesize(state: DebateState) -> dict[str, Any]:
        active = _active(state)
        positions = _positions(state)
        final = _latest(positions, active, state["round"])
        if not final:  # every expert dropped in a revision round: their last finished answers still stand
            final = _latest(positions, state.get("experts", []), state["round"])
        routing = RouteDecision(**state["routing"])
        dropped = tuple(DroppedExpert(**d) for d in state.get("dropped", []))
        tokens = sum(p.tokens for p in positions)
        prompt_tokens = sum(p.prompt_tokens for p in positions)
        history = [RoundRecord(**h) for h in state.get("history", [])]
        agreement = history[-1].agreement if history else 0.0
        synth_name = settings.synthesizer
        error: str | None = None
        answer_text = ""
        if not final:
            error = "no expert produced an answer: " + "; ".join(f"{d.expert}: {d.reason}" for d in dropped)
        elif len(final) == 1:
            answer_text, synth_name = final[0].text, final[0].expert
        else:
            vectors = runtime.embedder.embed([p.text for p in final])
            _emit({"event": "synthesis_started", "synthesizer": synth_name})
            try:
                message = ExpertChatModel(
                    runner=runtime.runner, expert=runtime.spec(synth_name),
                    seed=expert_seed(state.get("seed"), "synthesis", state["round"]),
                    max_tokens=state.get("max_tokens"), timeout_s=settings.expert_timeout_s,
                    cancel=runtime.cancel_event(state["session_id"]),
                ).with_config(metadata={"expert": synth_name, "round": "synthesis"}, tags=["synthesis"]).invoke(
                    _to_langchain(synthesis_messages(runtime.spec(synth_name), state["question"], final)))
                completion = Completion(**message.response_metadata["livemind_completion"])
                tokens += completion.completion_tokens
                prompt_tokens += completion.prompt_tokens
                answer_text = completion.text
                if not answer_text.strip():
                    error = f"synthesiser '{synth_name}' returned an empty answer"
            except GenerationCancelled:
                if runtime.cancel_event(state["session_id"]).is_set():
                    raise
                error = f"synthesiser '{synth_name}' timed out"
            except LiveMindError as exc:
                error = f"synthesiser '{synth_name}' failed: {exc}"
            if error:
                central = final[central_index(vectors)]
                answer_text = central.text
                synth_name = f"fallback: most central position ({central.expert})"
        dissent_notes: list[str] = []
        if len(final) > 1 and answer_text:
            vectors = runtime.embedder.embed([p.text for p in final])
            answer_vector = runtime.embedder.embed([answer_text])[0]
            dissent_notes, _ = dissent(final, vectors, answer_vector, settings.dissent_threshold)
        result = DebateResult(
            session_id=state["session_id"], question=state["question"], answer=answer_text,
            agreement=round(agreement, 4), positions=tuple(final), dissent=tuple(dissent_notes),
            rounds=max(0, len(history) - 1), history=tuple(history), routing=routing,
            mode=state["mode"], mode_reason=state["mode_reason"],  # type: ignore[arg-type]
            stop_reason=state.get("stop_reason", ""), synthesizer=synth_name, synthesis_error=error,
            dropped=dropped, tokens=tokens, prompt_tokens=prompt_tokens,
            total_s=round(time.time() - state.get("started_at", time.time()), 3), seed=state.get("seed"),
        )
        _emit({"event": "synthesis", "answer": answer_text, "agreement": result.agreement, "error": error})
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


class SessionCheckpointer(SqliteSaver):
    """SQLite checkpoints that survive restarts; a session whose save fails goes on in memory.

    When the disk is full or read-only, the session's later checkpoints are kept in memory, so
    its run (and its answer) finishes; a warning names the file and the error. Such a session
    resumes after a restart only from its last checkpoint on disk. `release` frees the memory.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        super().__init__(connection)
        self.path = path
        self._memory = InMemorySaver()
        self._in_memory: set[str] = set()

    def _fall_back(self, thread_id: str, exc: sqlite3.Error) -> None:
        with self.lock, contextlib.suppress(sqlite3.Error):
            self.conn.rollback()  # a failed commit can leave the shared connection inside a transaction
        self._in_memory.add(thread_id)
        LOG.warning("cannot save checkpoints of session %s to %s: %s; the session goes on in memory and cannot "
                    "resume from later steps after a restart; free disk space or make LIVEMIND_HOME writable",
                    thread_id, self.path, exc)

    def put(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
            new_versions: ChannelVersions) -> RunnableConfig:
        """Save to SQLite, or to memory once SQLite has failed for this session."""
        thread_id = str(config["configurable"]["thread_id"])
        if thread_id not in self._in_memory:
            try:
                return super().put(config, checkpoint, metadata, new_versions)
            except sqlite3.Error as exc:
                self._fall_back(thread_id, exc)
        return self._memory.put(config, checkpoint, metadata, new_versions)

    def put_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                   task_path: str = "") -> None:
        """Save pending writes to SQLite, or to memory once SQLite has failed for this session."""
        thread_id = str(config["configurable"]["thread_id"])
        if thread_id not in self._in_memory:
            try:
                super().put_writes(config, writes, task_id, task_path)
                return
            except sqlite3.Error as exc:
                self._fall_back(thread_id, exc)
        self._memory.put_writes(config, writes, task_id, task_path)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The newest checkpoint: from memory for a session whose saves failed, else from SQLite."""
        if str(config["configurable"]["thread_id"]) in self._in_memory:
            found = self._memory.get_tuple(config)
            if found is not None:
                return found
        return super().get_tuple(config)

    @property
    def in_memory_sessions(self) -> frozenset[str]:
        """Sessions whose checkpoints are held in memory because the disk refused them."""
        return frozenset(self._in_memory)

    def release(self, thread_id: str) -> None:
        """Forget a finished session's in-memory checkpoints."""
        if thread_id in self._in_memory:
            self._in_memory.discard(thread_id)
            self._memory.delete_thread(thread_id)


def open_checkpointer(path: Path) -> SessionCheckpointer:
    """A SQLite checkpointer that survives restarts (one file, WAL mode, shared across threads)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(str(path), check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        saver = SessionCheckpointer(connection, path)
        saver.setup()
    except (OSError, sqlite3.Error) as exc:
        raise SessionError(f"cannot open the checkpoint database {path}: {exc}",
                           hint="check that LIVEMIND_HOME is writable and the disk is not full") from exc
    return saver


def run_config(session_id: str) -> dict[str, Any]:
    """The LangGraph run config of one session."""
    return {"configurable": {"thread_id": session_id}, "recursion_limit": 200}
