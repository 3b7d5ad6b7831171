"""The nodes and edges of the LiveMind graph. Each node reads its dependencies (configuration, runner,
router, embedder) from the run's context, a GraphRuntime: `graph.stream(..., context=mind.runtime)`.
Typed events (livemind.events) go to the `custom` stream, tokens to the `messages` stream."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Send, StreamWriter

from livemind.council.chat_model import ExpertCall
from livemind.council.code.requests import runs_code
from livemind.council.decision import Outcome, debate_result, decide, final_positions, stop_reason
from livemind.council.embeddings import mean_pairwise_similarity
from livemind.council.options import CouncilOptions
from livemind.council.plugins.code import code_first
from livemind.council.prompts import (
    expert_seed,
    first_answer_messages,
    is_unchanged,
    label_for,
    revision_messages,
    shared_first_answer_messages,
    shared_revision_messages,
    turn_messages,
)
from livemind.council.router import COUNCIL_MIN_EXPERTS
from livemind.council.state import (
    DebateState,
    GraphRuntime,
    active_experts,
    is_sampling_round,
    latest,
    options_of,
    positions_of,
    process_runtime,
    slots,
    waiting,
)
from livemind.council.strategies import debate_trigger, round_agreement, tally_positions
from livemind.council.synthesis import dissent
from livemind.engine.backends.base import LoadTarget
from livemind.errors import GenerationCancelled, LiveMindError
from livemind.events import ExpertDropped, ExpertFinished, ExpertStarted, RoundDone, RouteEvent, SynthesisDone
from livemind.types import (
    ChatMessage,
    DroppedExpert,
    ExpertSpec,
    Position,
    RoundRecord,
    RouteDecision,
)


def deps(runtime: Runtime[GraphRuntime]) -> GraphRuntime:
    """The run's GraphRuntime; a served graph's runs (no caller can send one) share the process-wide one."""
    context = runtime.context
    return context if isinstance(context, GraphRuntime) else process_runtime()


# -- nodes ------------------------------------------------------------------------------------


def route(state: DebateState, runtime: Runtime[GraphRuntime]) -> dict[str, Any]:
    """Pick the experts and the mode: parallel, or turn-based when their models do not fit together."""
    ctx = deps(runtime)
    # the input's one validation: a JSON caller of the bare graph sends dicts, and may leave defaults out
    options = CouncilOptions.model_validate(state.get("options") or {}).resolved(ctx.config.debate, state["question"])
    if state.get("routing"):  # planned by the caller (`LiveMind.route`): the question is embedded once
        decision = RouteDecision.model_validate(state["routing"])
    else:
        requested = list(options.experts or ()) or None
        decision = ctx.router.route(state["question"], mode=options.mode or "auto",
                                    experts=requested, min_experts=COUNCIL_MIN_EXPERTS)
        decision = decision if requested else ctx.prefer_loaded(decision)
    mode: str = decision.mode
    reason = decision.reason
    if mode == "parallel" and len(decision.selected) > 1:
        mode, reason = _fitting_mode(ctx, decision.selected, reason)
    runtime.stream_writer(RouteEvent(selected=decision.selected, mode=mode, reason=reason, routed_on=decision.routed_on,
                                     scores=tuple(s.model_dump() for s in decision.scores)))
    asked = code_first(state["question"]) if runs_code(options.strategy, state["question"]) else state["question"]
    return {"options": options, "routing": decision, "question": asked,
            "experts": list(decision.selected), "mode": mode,
            "mode_reason": reason, "round": 0, "started_at": state.get("started_at") or time.time(),
            "session_id": state.get("session_id") or uuid.uuid4().hex[:12]}


def expert(state: DebateState, runtime: Runtime[GraphRuntime]) -> dict[str, Any]:
    """One parallel branch: an expert's answer (or one of its samples), seeing no other answer of its round."""
    return _answer(deps(runtime), runtime.stream_writer, state, state["expert_name"], (), state.get("sample", 0))


def turn(state: DebateState, runtime: Runtime[GraphRuntime]) -> dict[str, Any]:
    """Turn-based: the next waiting expert answers, seeing the answers given so far this round."""
    done_now = [p for p in positions_of(state) if p.round == state["round"]]
    name, k = waiting(state)[0]
    return _answer(deps(runtime), runtime.stream_writer, state, name, done_now, k)


def collect(state: DebateState, runtime: Runtime[GraphRuntime]) -> dict[str, Any]:
    """Close a round: its agreement and record, then stop (why) or go on to the next round."""
    ctx, r = deps(runtime), state["round"]
    settings = ctx.config.debate
    active = active_experts(state)
    positions = positions_of(state)
    if is_sampling_round(state):
        current = [p for p in positions if p.round == r and p.expert in active]
    else:
        current = [p for p in latest(positions, active, r) if p.round == r]
    previous = list(latest(positions, active, r - 1)) if r > 0 else []
    similarity = mean_pairwise_similarity(ctx.embedder.embed([p.text for p in current])) if current else 0.0
    round_tally = tally_positions(current)  # weighted by confidence when every answer has one
    agreement = round_agreement(round_tally, similarity)
    unchanged = r > 0 and is_unchanged(previous, current)
    record = RoundRecord(round=r, agreement=round(agreement, 4), positions=tuple(current), changed=not unchanged,
                         answers=round_tally.values, is_weighted=round_tally.is_weighted)
    history = [*state.get("history", []), record]
    runtime.stream_writer(RoundDone(round=r, agreement=record.agreement, experts=tuple(p.expert for p in current),
                                    answers=round_tally.values))
    update: dict[str, Any] = {"history": history}
    stop = stop_reason(settings, state, current, agreement, unchanged)
    if not stop and r == 0:
        triggered, why = (debate_trigger(round_tally, similarity, settings.agreement_threshold)
                          if options_of(state).selective
                          else (True, "selective debate is off: the revision rounds always run"))
        update |= {"debate_triggered": triggered, "trigger_reason": why}
        stop = "" if triggered else why
    if stop:
        return {**update, "stop_reason": stop}
    return {**update, "round": r + 1}


def synthesize(state: DebateState, runtime: Runtime[GraphRuntime]) -> dict[str, Any]:
    """The final answer by the strategy (synthesis, vote or select), its dissent, and the DebateResult."""
    ctx, emit = deps(runtime), runtime.stream_writer
    positions = positions_of(state)
    final = final_positions(ctx.config.debate, state, positions)
    dropped = tuple(state.get("dropped", []))
    outcome = Outcome(tokens=sum(p.tokens for p in positions), prompt_tokens=sum(p.prompt_tokens for p in positions),
                      question=state["question"])
    vectors = ctx.embedder.embed([p.text for p in final]) if len(final) > 1 else None
    if not final:
        outcome.error = "no expert produced an answer: " + "; ".join(f"{d.expert}: {d.reason}" for d in dropped)
    elif vectors is None:
        outcome.text, outcome.by = final[0].text, final[0].expert
    else:
        decide(ctx, emit, state, final, vectors, outcome)
    dissent_notes: list[str] = list(outcome.dissent)
    if vectors is not None and outcome.text:
        answer_vector = ctx.embedder.embed([outcome.text])[0]
        dissent_notes += dissent(final, vectors, answer_vector, ctx.config.debate.dissent_threshold)[0]
    result = debate_result(state, positions, final, dropped, dissent_notes, outcome)
    emit(SynthesisDone(round=state["round"], answer=outcome.text, agreement=result.agreement, error=outcome.error))
    return {"result": result.model_dump(mode="json")}


# -- edges ------------------------------------------------------------------------------------


def dispatch(state: DebateState) -> list[Send] | str:
    """Start a round: one Send per (expert, sample) in parallel mode, else the first turn."""
    if state["mode"] == "turns":
        return "turn"
    return [Send("expert", {**state, "expert_name": name, "sample": k}) for name, k in slots(state)]


def after_turn(state: DebateState) -> str:
    """The next turn, or the round's end."""
    return "turn" if waiting(state) else "collect"


def after_collect(state: DebateState) -> list[Send] | str:
    """Synthesis once a stop reason is set, else the next round."""
    if state.get("stop_reason"):
        return "synthesize"
    return dispatch(state)


# -- answering --------------------------------------------------------------------------------


def _answer(ctx: GraphRuntime, emit: StreamWriter, state: DebateState, name: str,
            earlier_this_round: Sequence[Position], sample: int = 0) -> dict[str, Any]:
    """One expert's answer (or one of its `select` samples) for the current round, or its drop record."""
    spec, settings = ctx.spec(name), ctx.config.debate
    is_sampling = is_sampling_round(state)
    names, r = state["experts"], state["round"]
    positions = positions_of(state)
    own = sorted((p for p in positions if p.expert == name), key=lambda p: p.round)
    options = options_of(state)
    is_shared = options.transcript == "shared"
    messages = _messages(spec, name, state, positions, own, earlier_this_round, is_shared)
    cancel = ctx.cancel_event(state["session_id"])
    emit(ExpertStarted(expert=name, round=r))
    call = ExpertCall(
        runner=ctx.runner, expert=spec, prompt=tuple(messages), max_tokens=options.max_tokens,
        timeout_s=settings.expert_timeout_s, seed=expert_seed(options.seed, f"{name}#{sample}" if is_sampling else name, r),
        cancel=cancel, temperature=max(spec.sampling.temperature, settings.select_temperature) if is_sampling
        else options.temperature,
        conversation=None if is_sampling else f"{state['session_id']}:{name}",
        batch_group=None if is_sampling else state["session_id"])
    try:
        completion = call.complete(metadata={"expert": name, "round": r}, tags=[f"expert:{name}"])
    except GenerationCancelled as exc:
        if cancel.is_set():
            raise
        return _drop(emit, name, r, exc)
    except LiveMindError as exc:
        return _drop(emit, name, r, exc)
    if not completion.text.strip():
        return _drop(emit, name, r, LiveMindError("the expert returned an empty answer"))
    previous = own[-1].text if own else None
    position = Position(expert=name, label=label_for(names.index(name)), round=r, text=completion.text, sample=sample,
                        tokens=completion.completion_tokens, prompt_tokens=completion.prompt_tokens,
                        total_s=round(completion.total_s, 3), mean_logprob=completion.mean_logprob,
                        finish_reason=completion.finish_reason,
                        changed=previous is None or " ".join(previous.split()) != " ".join(completion.text.split()))
    emit(ExpertFinished(expert=name, round=r, tokens=position.tokens, seconds=position.total_s))
    return {"positions": [position]}


def _messages(spec: ExpertSpec, name: str, state: DebateState, positions: Sequence[Position],
              own: Sequence[Position], earlier_this_round: Sequence[Position], is_shared: bool) -> list[ChatMessage]:
    """The prompt of an expert's turn (first answer, turn-based answer, or revision), shared or private layout."""
    names, r, question = state["experts"], state["round"], state["question"]
    if r == 0:
        if earlier_this_round and not is_sampling_round(state):
            return turn_messages(spec, question, earlier_this_round)
        return shared_first_answer_messages(spec, question) if is_shared else first_answer_messages(spec, question)
    if is_shared:  # each round's answers, the reader's own included (one who dropped out is absent after)
        rounds = [[p for p in latest(positions, names, k) if p.round == k] for k in range(r)]
        if earlier_this_round:  # turn-based: this round's answers so far, as a last block
            rounds.append(list(earlier_this_round))
        return shared_revision_messages(spec, label_for(names.index(name)), question, rounds)
    others_by_round = [
        [p for p in latest(positions, names, k) if p.expert != name and p.round == k]
        or [p for p in latest(positions, names, k) if p.expert != name]
        for k in range(r)
    ]
    if earlier_this_round:  # turn-based: the latest revisions of those who went first
        went_first = {q.expert for q in earlier_this_round}
        others_by_round[-1] = [p for p in latest(positions, names, r - 1) if p.expert != name
                               and p.expert not in went_first] + list(earlier_this_round)
    return revision_messages(spec, question, own, others_by_round)


def _drop(emit: StreamWriter, name: str, r: int, exc: Exception) -> dict[str, Any]:
    reason = str(exc)
    emit(ExpertDropped(expert=name, round=r, reason=reason))
    return {"dropped": [DroppedExpert(expert=name, round=r, reason=reason)]}


def _fitting_mode(ctx: GraphRuntime, selected: Sequence[str], reason: str) -> tuple[str, str]:
    """Parallel if the experts' models fit in RAM together below the soft target, else turn-based, saying why.

    The seed's operations rule, "keep RAM below 80% for multi-model runs": a parallel council that
    would take system memory past the soft target takes turns instead. The hard limit (90%)
    stays the line where a load is refused.
    """
    targets = _estimable_targets(ctx, selected)
    pool = ctx.runner.pool
    fits, needed, room = pool.fits_together(targets)
    models = sorted({t.model for t in targets})
    if fits:
        soft = pool.guard.soft_target_percent
        calm, _, soft_room = pool.fits_together(targets, target_percent=soft)
        # one model, or nothing left to load: taking turns would hold the same memory
        if calm or needed == 0 or len({t.key for t in targets if not t.is_remote}) < 2:
            return "parallel", reason
        return "turns", (f"{reason}; switched to turn-based: models {', '.join(models)} need {needed / 2**20:.0f} MiB "
                         f"together, which would take system RAM past the soft target of {soft:.0f}% (room for "
                         f"{soft_room / 2**20:.0f} MiB below it; the hard limit, {pool.guard.hard_limit_percent:.0f}%, "
                         "is where loads are refused)")
    if len({t.key for t in targets if not t.is_remote}) > pool.max_warm:  # fits_together sized nothing
        why = f"are more than the {pool.max_warm} kept loaded at once (max_warm)"
    else:
        why = f"need {needed / 2**20:.0f} MiB together but only {room / 2**20:.0f} MiB fit under the RAM limit"
    return "turns", f"{reason}; switched to turn-based: models {', '.join(models)} {why}"


def _estimable_targets(ctx: GraphRuntime, names: Sequence[str]) -> list[LoadTarget]:
    """Load targets of the experts whose model can be sized; the others are dropped when they answer, saying why."""
    targets = []
    for name in names:
        try:
            target = ctx.runner.target_for(ctx.spec(name))
            ctx.runner.pool.estimate(target)
        except LiveMindError:  # a missing or corrupt file must not cost the other experts their round
            continue
        targets.append(target)
    return targets


