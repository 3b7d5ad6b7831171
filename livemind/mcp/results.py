"""What the MCP tools return: LiveMind values as structured content, short texts for the agent to read.

Each result is a `CallToolResult` whose `structured_content` is a LiveMind value (`Answer`,
`DebateResult`, `RouteDecision`, `PoolStatus`, or the `ExpertList` / `SessionView` views defined
here, which the core has no model for). Its text is a short summary written for the agent's
context window, not the JSON again: the full record is in `structured_content` and, for
sessions, at `livemind://sessions/{id}`.
"""

from __future__ import annotations

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict

from livemind.orchestrator import LiveMind
from livemind.types import Answer, ConsensusMode, DebateResult, ExpertStatus, PoolStatus, RouteDecision, Value

SESSION_URI = "livemind://sessions/{session_id}"


# -- views the core has no model for -------------------------------------------------------------

ExpertInfo = ExpertStatus
"""One expert: what it knows, its model, and whether that model is in RAM now (LiveMind.experts())."""


class ExpertList(Value):
    """The configured experts, who synthesises, and the router's fallback."""

    experts: tuple[ExpertInfo, ...]
    synthesizer: str
    fallback: str
    max_warm: int


class SessionParams(BaseModel):
    """The options a session was started with."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    experts: tuple[str, ...] | None = None
    rounds: int | None = None
    mode: ConsensusMode = "auto"
    seed: int | None = None
    max_tokens: int | None = None


class SessionView(Value):
    """A stored consensus or debate: running, done, cancelled or interrupted."""

    session_id: str
    question: str
    status: str
    params: SessionParams
    created_at: float
    updated_at: float
    result: DebateResult | None
    transcript_uri: str


def expert_list(mind: LiveMind) -> ExpertList:
    """Every expert with its model and whether that model is loaded now."""
    return ExpertList(experts=mind.experts(), synthesizer=mind.config.debate.synthesizer,
                      fallback=mind.config.router.fallback, max_warm=mind.config.pool.max_warm)


def session_view(mind: LiveMind, session_id: str) -> SessionView:
    """One stored session as a value (raises SessionError when there is none)."""
    record = mind.session(session_id)
    return SessionView(session_id=record.session_id, question=record.question, status=record.status,
                       params=SessionParams.model_validate(record.params), created_at=record.created_at,
                       updated_at=record.updated_at, result=record.result,
                       transcript_uri=SESSION_URI.format(session_id=record.session_id))


# -- results ------------------------------------------------------------------------------------

def answer_result(answer: Answer) -> CallToolResult:
    """An expert's answer."""
    return _result(answer, _answer_text(answer))


def debate_result(result: DebateResult) -> CallToolResult:
    """A consensus or debate outcome."""
    return _result(result, _debate_text(result))


def route_result(decision: RouteDecision) -> CallToolResult:
    """A routing decision."""
    return _result(decision, _route_text(decision))


def status_result(status: PoolStatus) -> CallToolResult:
    """RAM and the pool."""
    return _result(status, _status_text(status))


def experts_result(listing: ExpertList) -> CallToolResult:
    """The experts."""
    return _result(listing, _experts_text(listing))


def session_result(view: SessionView) -> CallToolResult:
    """A stored session."""
    return _result(view, _session_text(view))


def _result(value: BaseModel, text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=value.model_dump(mode="json"))


def _answer_text(answer: Answer) -> str:
    cut = " · cut at max_tokens" if answer.finish_reason == "length" else ""
    return (f"{answer.answer}\n\n— {answer.expert} ({answer.model}) · {answer.tokens} tokens · "
            f"{answer.total_s:.1f} s{cut}")


def _debate_text(result: DebateResult) -> str:
    lines = [result.answer, "",
             f"agreement {result.agreement:.2f} · {_count(len(result.positions), 'expert')} · mode {result.mode} · "
             f"{_count(result.rounds, 'revision round')} ({result.stop_reason}) · {result.tokens} tokens · "
             f"{result.total_s:.1f} s · synthesiser {result.synthesizer}",
             "positions:"]
    lines += [f"- {p.expert}: {' '.join(p.text.split())}" for p in result.positions]
    if result.dissent:
        lines += ["dissent:"] + [f"- {d}" for d in result.dissent]
    if result.dropped:
        lines += ["dropped:"] + [f"- {d.expert} (round {d.round}): {d.reason}" for d in result.dropped]
    if result.synthesis_error:
        lines.append(f"synthesis error: {result.synthesis_error}")
    lines.append(f"session {result.session_id}: {SESSION_URI.format(session_id=result.session_id)}")
    return "\n".join(lines)


def _route_text(decision: RouteDecision) -> str:
    scores = ", ".join(f"{s.expert} {s.score:.2f}" for s in decision.scores)
    return f"selected: {', '.join(decision.selected)} (mode {decision.mode}) — {decision.reason}\nscores: {scores}"


def _status_text(status: PoolStatus) -> str:
    gib, mib = 2**30, 2**20
    budget = f"{status.budget_bytes / mib:.0f} MiB" if status.budget_bytes else "none"
    loaded = ", ".join(f"{m.model} ({'generating' if m.is_generating else f'idle {m.idle_s:.0f} s'})"
                       for m in status.loaded) or "none"
    return (f"RAM {status.ram_percent:.1f}% used ({status.ram_used_bytes / gib:.1f} of "
            f"{status.ram_total_bytes / gib:.1f} GiB, {status.ram_available_bytes / gib:.1f} GiB free); "
            f"hard limit {status.hard_limit_percent:.0f}%, soft target {status.soft_target_percent:.0f}%, "
            f"budget {budget}; models {status.pool_bytes / mib:.0f} MiB, {len(status.loaded)}/{status.max_warm} "
            f"warm: {loaded}; refusals {status.refusals}")


def _experts_text(listing: ExpertList) -> str:
    lines = [f"- {e.name} ({e.model}{', loaded' if e.is_loaded else ''}): {e.description}" for e in listing.experts]
    return "\n".join([*lines, f"synthesiser {listing.synthesizer}, fallback {listing.fallback}"])


def _session_text(view: SessionView) -> str:
    head = f"session {view.session_id} ({view.status}): {view.question}"
    if view.result is None:
        return head
    return f"{head}\n\n{_debate_text(view.result)}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
