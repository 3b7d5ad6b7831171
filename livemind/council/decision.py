"""How a council ends: why it stops after a round, and the final answer each strategy gives.

    after every round   stop_reason: no answers, quorum lost, a single expert, vote/select (one round),
                        agreement reached (selective), nobody changed, or the round limit
    at the end          final_positions → decide: vote's pick, select's pick, or the synthesiser's
                        answer (the most central position if it fails) → debate_result

A vote or select that ends in a split (a tie for the most weight: see livemind.council.strategies)
answers with a statement of the split, not with one of the tied answers, and its `answer_value`
is None. Votes are weighted by the experts' confidence when every final answer has one; the result
says which (`vote_weighting`), and `first_vote` stays a plain count.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial

from langgraph.types import StreamWriter

from livemind.config import DebateSettings
from livemind.council.chat_model import ExpertCall
from livemind.council.embeddings import Vectors
from livemind.council.extraction import extract_answer
from livemind.council.plugins import strategy_named
from livemind.council.prompts import expert_seed, synthesis_messages
from livemind.council.state import DebateState, GraphRuntime, active_experts, options_of
from livemind.council.strategies import central_among, tally, weighting_statement
from livemind.council.strategy import CouncilStrategy, Outcome, RoundView, latest
from livemind.errors import GenerationCancelled, LiveMindError
from livemind.events import SynthesisStarted
from livemind.types import DebateResult, DroppedExpert, Position


def strategy_of(state: DebateState) -> CouncilStrategy:
    """The run's strategy plug-in (debate unless the run names another)."""
    return strategy_named(options_of(state).strategy or "debate")


def round_view(state: DebateState, settings: DebateSettings) -> RoundView:
    """What a strategy reads about the council after the current round."""
    return RoundView(round=state["round"], samples=options_of(state).samples or settings.samples,
                     active=tuple(active_experts(state)), started=tuple(state.get("experts", [])))


def stop_reason(settings: DebateSettings, state: DebateState, current: Sequence[Position], agreement: float,
                unchanged: bool) -> str:
    """Why the council stops after this round, or "" to go on."""
    r = state["round"]
    started = len(state.get("experts", []))
    options = options_of(state)
    max_rounds = settings.max_rounds if options.rounds is None else options.rounds
    if not current:
        return "no expert answered"
    if started >= settings.quorum and len({p.expert for p in current}) < settings.quorum:
        return f"quorum lost: {len({p.expert for p in current})} of {started} experts remain, quorum is {settings.quorum}"
    if len(current) == 1:
        return "single expert"
    if reason := strategy_of(state).ends_after(round_view(state, settings)):
        return reason
    if r == 0 and max_rounds == 0:
        return "no revision rounds requested"
    if r > 0 and options.selective and agreement >= settings.agreement_threshold:
        return f"agreement {agreement:.2f} ≥ {settings.agreement_threshold:.2f}"
    if unchanged:
        return "no expert changed its answer"
    if r > 0 and r >= max_rounds:
        return f"reached the maximum of {max_rounds} rounds"
    return ""


def final_positions(settings: DebateSettings, state: DebateState, positions: Sequence[Position]) -> list[Position]:
    """The positions the final answer is drawn from (the strategy's choice)."""
    final = strategy_of(state).final_positions(positions, round_view(state, settings))
    if not final:  # every expert dropped in a revision round: their last finished answers still stand
        final = latest(positions, state.get("experts", []), state["round"])
    return final


def decide(ctx: GraphRuntime, emit: StreamWriter, state: DebateState, final: Sequence[Position], vectors: Vectors,
           outcome: Outcome) -> None:
    """Two or more final positions: the strategy's pick (or the synthesiser's answer, when it asks for one)."""
    outcome.expert_accuracy = {p.expert: a for p in final if (a := ctx.spec(p.expert).accuracy) is not None}
    strategy_of(state).pick(final, vectors, outcome, partial(_synthesise, ctx, emit, state))


def _synthesise(ctx: GraphRuntime, emit: StreamWriter, state: DebateState, final: Sequence[Position],
                vectors: Vectors, outcome: Outcome) -> None:
    """The synthesiser writes the answer; on failure the most central position stands and the error is kept."""
    settings = ctx.config.debate
    name = settings.synthesizer
    outcome.by = name
    emit(SynthesisStarted(round=state["round"], synthesizer=name))
    try:
        prompt = synthesis_messages(ctx.spec(name), state["question"], final,
                                    is_numeric=tally([p.text for p in final]).is_mostly_numeric)
        completion = ExpertCall(
            runner=ctx.runner, expert=ctx.spec(name), prompt=tuple(prompt),
            seed=expert_seed(options_of(state).seed, "synthesis", state["round"]),
            max_tokens=options_of(state).max_tokens, timeout_s=settings.expert_timeout_s,
            cancel=ctx.cancel_event(state["session_id"]),
        ).complete(metadata={"expert": name, "round": state["round"], "phase": "synthesis"}, tags=["synthesis"])
        outcome.tokens += completion.completion_tokens
        outcome.prompt_tokens += completion.prompt_tokens
        outcome.text = completion.text
        if not outcome.text.strip():
            outcome.error = f"synthesiser '{name}' returned an empty answer"
    except GenerationCancelled:
        if ctx.cancel_event(state["session_id"]).is_set():
            raise
        outcome.error = f"synthesiser '{name}' timed out"
    except LiveMindError as exc:
        outcome.error = f"synthesiser '{name}' failed: {exc}"
    if outcome.error:
        central = final[central_among(vectors, range(len(final)))]
        outcome.text = central.text
        outcome.by = f"fallback: most central position ({central.expert})"


def debate_result(state: DebateState, positions: Sequence[Position], final: Sequence[Position],
            dropped: tuple[DroppedExpert, ...], dissent_notes: Sequence[str], outcome: Outcome) -> DebateResult:
    """The DebateResult of a finished council."""
    history = state.get("history", [])
    first = [p for p in positions if p.round == 0 and p.sample == 0]
    holds_numbers = any(v is not None for v in tally([p.text for p in final]).values)
    return DebateResult(
        session_id=state["session_id"], question=state["question"], answer=outcome.text,
        agreement=round(outcome.agreement if outcome.agreement is not None else history[-1].agreement if history else 0.0,
                        4), positions=tuple(final),
        dissent=tuple(dissent_notes), rounds=max(0, len(history) - 1), history=tuple(history),
        routing=state["routing"], mode=state["mode"],
        mode_reason=state["mode_reason"], stop_reason=state.get("stop_reason", ""), synthesizer=outcome.by,
        synthesis_error=outcome.error, dropped=dropped, tokens=outcome.tokens, prompt_tokens=outcome.prompt_tokens,
        total_s=round(time.time() - state.get("started_at", time.time()), 3), seed=options_of(state).seed,
        strategy=options_of(state).strategy or "debate", debate_triggered=state.get("debate_triggered"),
        trigger_reason=state.get("trigger_reason", ""),
        first_vote=tally([p.text for p in first]).winner,  # counted, never weighted: the control
        answer_value=extract_answer(outcome.text).value if outcome.text and not outcome.is_split else None,
        consistency=outcome.consistency, vote_weighting=weighting_statement(final) if holds_numbers else "",
    )
