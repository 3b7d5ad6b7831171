"""The MCP tools: bounded arguments in, LiveMind's own result models out, errors that say what to do.

Results (structured content plus a short text) are built in `mcp_results`.

Blocking work runs off the event loop: `ask` in a worker thread with a cancel event, consensus
and debate through `LiveMind.astream`, whose closing cancels the debate between tokens.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Sequence
from contextlib import aclosing, contextmanager, suppress
from functools import partial
from typing import Annotated, cast

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from livemind.council.code import CodeResult
from livemind.council.options import CouncilOptions
from livemind.errors import LiveMindError, RamBudgetExceeded, SessionError, UnknownExpertError
from livemind.events import (
    TEXT_EVENTS,
    DebateEvent,
    ExpertDropped,
    ExpertFinished,
    RoundDone,
    RouteEvent,
    SynthesisDone,
    SynthesisStarted,
    result_of,
)
from livemind.limits import AGENT_EXPERTS, AGENT_TOKENS, ExpertName, QuestionText, SeedValue, SessionIdText
from livemind.mcp.arguments import council_tool
from livemind.mcp.code_tool import run_code_tool
from livemind.mcp.results import (
    ExpertList,
    SessionView,
    answer_result,
    debate_result,
    expert_list,
    experts_result,
    route_result,
    session_result,
    session_view,
    status_result,
)
from livemind.orchestrator import LiveMind
from livemind.server.admitted import Admitted, AdmittedRun, doorway, rate
from livemind.server.gate import Gate
from livemind.types import Answer, ConsensusMode, DebateResult, PoolStatus, RouteDecision

LOG = logging.getLogger("livemind.mcp")
TOKENS_PER_TICK = 16

# The core's bounds (livemind.limits), with the tighter AGENT_* caps where an agent waits on the call.
Question = Annotated[QuestionText, Field(description="Put code or a diff inline.")]
Expert = Annotated[ExpertName | None, Field(description="Name from list_experts. Default: routed.")]
Experts = Annotated[list[ExpertName] | None, Field(min_length=1, max_length=AGENT_EXPERTS,
                                                   description="Names from list_experts. Default: routed.")]
MaxTokens = Annotated[int | None, Field(ge=1, le=AGENT_TOKENS, description="Cap per answer. Default: the expert's.")]
Seed = Annotated[SeedValue | None, Field(description="Fixes sampling, for repeatable answers.")]
RouteMode = Annotated[ConsensusMode, Field(description="auto: one expert if one clearly leads.")]
SessionId = SessionIdText
CodeTask = Annotated[str, Field(min_length=1, max_length=8000)]
CodeSignature = Annotated[str | None, Field(max_length=2000, description="def f(x: int) -> int:")]
CodeTests = Annotated[str | None, Field(max_length=8000, description="assert f(2) == 4 lines")]
CodeSamples = Annotated[int, Field(ge=1, le=4, description="Per expert.")]
CodeProbes = Annotated[int, Field(ge=0, le=12, description="Test inputs per expert.")]
CodeLeadSamples = Annotated[int, Field(ge=0, le=8, description="Extra samples from the first expert.")]


# -- the running LiveMind -------------------------------------------------------------------------

class MindRef:
    """The LiveMind the handlers use; the server lifespan sets it, warms the router, and clears it."""

    def __init__(self) -> None:
        self._mind: LiveMind | None = None
        self._warm = threading.Event()

    def set(self, mind: LiveMind) -> None:
        """Serve this LiveMind; embed the router's texts in the background so start-up stays fast."""
        self._mind = mind
        self._warm.clear()
        threading.Thread(target=self._warm_up, args=(mind,), name="livemind-mcp-warm", daemon=True).start()

    def _warm_up(self, mind: LiveMind) -> None:
        try:
            mind.start()  # router warm-up and the idle-model reaper: an idle model unloads under MCP too
        except LiveMindError as exc:  # the first routed call reports it to the client
            LOG.warning("router warm-up failed: %s", exc)
        finally:
            self._warm.set()

    def clear(self) -> None:
        """Stop serving the LiveMind (the lifespan ended)."""
        self._mind = None

    def now(self) -> LiveMind:
        """The LiveMind, for calls that do not route (status, sessions, the catalog)."""
        if self._mind is None:
            raise ToolError("LiveMind is not running; restart the MCP server")
        return self._mind

    async def ready(self) -> LiveMind:
        """The LiveMind once the router is warm: concurrent first embeddings would race on its cache file."""
        mind = self.now()
        if not self._warm.is_set():
            await anyio.to_thread.run_sync(self._warm.wait)
        return mind


# -- errors ---------------------------------------------------------------------------------------

@contextmanager
def translated_errors(tool: str) -> Iterator[None]:
    """Turn LiveMind errors into tool errors whose text tells the agent what to do next."""
    try:
        yield
    except UnknownExpertError as exc:
        raise ToolError(f"unknown expert '{exc.name}'. Valid experts: {', '.join(exc.valid)}.") from exc
    except RamBudgetExceeded as exc:
        if exc.permanent:
            raise ToolError(f"{exc.message}. What to do: {exc.hint}.") from exc
        if tool == "ask":
            advice = ("call status and ask an expert whose model is already loaded, "
                      "or ask the operator to raise LIVEMIND_RAM_BUDGET")
        else:
            advice = "retry with mode='turns' (one model in RAM at a time) or fewer experts; call status first"
        raise ToolError(f"{exc.message}. What to do: {advice}.") from exc
    except SessionError as exc:
        raise ToolError(f"{exc.message}. Session ids come back from consensus and debate.") from exc
    except LiveMindError as exc:
        raise ToolError(f"{exc.message}. What to do: {exc.hint}." if exc.hint else exc.message) from exc


def _no_answer(result: DebateResult) -> ToolError:
    reasons = "; ".join(f"{d.expert}: {d.reason}" for d in result.dropped) or result.synthesis_error or "unknown"
    advice = "call status; use fewer experts"
    if result.mode == "parallel":
        advice += " or mode='turns'"
    return ToolError(f"no expert could answer (session {result.session_id}): {reasons}. What to do: {advice}.")


# -- progress -------------------------------------------------------------------------------------

class DebateProgress:
    """Turns debate events into increasing progress: route, each expert, each round, synthesis."""

    def __init__(self, ctx: Context, max_rounds: int) -> None:
        self._ctx = ctx
        self._max_rounds = max_rounds
        self._done = 0
        self._total: int | None = None

    async def on(self, event: DebateEvent) -> None:
        """Report one event; token events are too many to report."""
        if isinstance(event, RouteEvent):
            # route + per round (each expert + the round) + synthesis start and end; early stops jump ahead
            self._total = 1 + (self._max_rounds + 1) * (len(event.selected) + 1) + 2
            await self._step(f"routed to {', '.join(event.selected)} (mode {event.mode})")
        elif isinstance(event, ExpertFinished):
            await self._step(f"{event.expert} finished round {event.round} ({event.tokens} tokens, "
                             f"{event.seconds:.1f} s)")
        elif isinstance(event, ExpertDropped):
            await self._step(f"{event.expert} dropped in round {event.round}: {event.reason}")
        elif isinstance(event, RoundDone):
            await self._step(f"round {event.round} done: agreement {event.agreement:.2f}")
        elif isinstance(event, SynthesisStarted):
            await self._step(f"synthesis by {event.synthesizer}")
        elif isinstance(event, SynthesisDone):
            self._done = max(self._done, (self._total or self._done + 1) - 1)
            await self._step("synthesis done")

    async def _step(self, message: str) -> None:
        self._done += 1
        total = max(self._total or 0, self._done) or None
        await self._ctx.report_progress(self._done, total, message)


# -- the tools ------------------------------------------------------------------------------------

def _strip_titles(schema: object) -> None:
    """Drop pydantic's auto titles ("Max Tokens") in place: names say it already, and agents pay per token."""
    if isinstance(schema, list):
        for item in schema:
            _strip_titles(item)
    elif isinstance(schema, dict):
        if isinstance(schema.get("title"), str):
            del schema["title"]
        for key, value in schema.items():
            if key in ("properties", "$defs"):
                for sub in value.values():
                    _strip_titles(sub)
            elif key in ("items", "anyOf", "allOf", "oneOf", "additionalProperties"):
                _strip_titles(value)


class LiveMindTools:
    """The eight tools over one LiveMind."""

    def __init__(self, ref: MindRef, *, open_world: bool = False, gate: Gate | None = None) -> None:
        self.ref = ref
        self.door = doorway(gate)  # the server's lanes and metrics, or the open door of a stdio server
        # Generating tools reach remote servers only when remote experts are configured.
        self.open_world = open_world

    def tools(self) -> list[Tool]:
        """The tools, ready for `MCPServer(tools=...)`, with pydantic's auto titles stripped from their schemas."""
        # ask writes nothing: a model loaded into RAM is a cache, not a change to the user's world
        asking = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=self.open_world)
        # consensus and debate store a session and its transcript: they write, but never overwrite
        convening = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                                    open_world_hint=self.open_world)
        reading = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
        consensus, debate = council_tool(self.consensus, "consensus"), council_tool(self.debate, "debate")
        described: list[tuple[Callable[..., Awaitable[CallToolResult]], ToolAnnotations, str]] = [
            (self.ask, asking, "One local expert answers (routed, or the one you name). The fastest second opinion."),
            (consensus, convening, "Several experts answer independently, in parallel, then one synthesises. "
             "Returns the answer, agreement 0-1, dissent and each position."),
            (debate, convening, "Consensus plus revision rounds in which experts see each other's answers, "
             "until they agree or rounds run out. Slowest."),
            (self.code, convening, "Experts write the function; each candidate runs in a sandbox on the task's examples "
             "and your tests; the largest group that behaves alike wins."),
            (self.route, reading, "Which experts would answer, with scores, without generating. Instant."),
            (self.list_experts, reading, "Experts: names, models, what each knows, whether loaded."),
            (self.status, reading, "RAM use, budget and loaded models. Check before consensus or debate."),
            (self.get_session, reading, "A past consensus or debate by session_id."),
        ]
        tools = []
        for fn, hints, description in described:
            tool = Tool.from_function(fn, description=description, annotations=hints)
            _strip_titles(tool.parameters)
            if tool.output_schema is not None:
                _strip_titles(tool.output_schema)
            tools.append(tool)
        return tools

    async def ask(self, question: Question, ctx: Context, expert: Expert = None,
                  max_tokens: MaxTokens = None, seed: Seed = None) -> Annotated[CallToolResult, Answer]:
        """One expert answers; cancelling the call stops it."""
        mind = await self.ref.ready()
        cancel = threading.Event()
        produced = 0

        def on_token(_piece: str) -> None:  # runs in the engine's worker thread
            nonlocal produced
            produced += 1
            if produced % TOKENS_PER_TICK == 0 and not cancel.is_set():
                with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):  # the client left: cancel follows
                    anyio.from_thread.run(ctx.report_progress, produced, max_tokens, f"{produced} tokens")

        with translated_errors("ask"):
            decision: RouteDecision | None = None
            if expert is None and self.door.is_gated:  # admission needs the expert's model before the call
                decision = await anyio.to_thread.run_sync(partial(mind.route, question, mode="single"))
                expert = decision.selected[0]
            admitted = self._enter(mind, [expert] if expert is not None else [], tool="ask")

            def work() -> Answer:
                with AdmittedRun(admitted, is_cancelled=cancel.is_set) as run:
                    def counted(piece: str) -> None:
                        run.token()
                        on_token(piece)

                    run.wait(cancel)
                    answer = mind.ask(question, expert=expert, max_tokens=max_tokens, seed=seed, on_token=counted,
                                      cancel=cancel)
                    run.succeed(tok_s=answer.tok_s)
                return answer if decision is None else answer.model_copy(update={"routing": decision})

            try:
                # abandon: a cancelled call returns at once; the engine stops at its next token
                answer = await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
            finally:
                cancel.set()
                admitted.leave()  # a call cancelled while its worker still runs leaves the lanes now
        return answer_result(answer)

    def _enter(self, mind: LiveMind, experts: Sequence[str], *, tool: str) -> Admitted:
        """A place in the server's lanes for these experts' models (the open door outside `livemind serve`)."""
        return self.door.enter(mind.config, experts, endpoint=f"mcp_{tool}",
                               label=experts[0] if tool == "ask" and experts else f"mcp-{tool}")

    async def consensus(self, question: Question, ctx: Context,
                        options: CouncilOptions) -> Annotated[CallToolResult, DebateResult]:
        """Independent answers, then a vote (or the given strategy)."""
        return debate_result(await self._debate(ctx, question, options.for_consensus(), tool="consensus"))

    async def debate(self, question: Question, ctx: Context,
                     options: CouncilOptions) -> Annotated[CallToolResult, DebateResult]:
        """Rounds until agreement or the limit, then a synthesis."""
        return debate_result(await self._debate(ctx, question, options.for_debate(), tool="debate"))

    async def _debate(self, ctx: Context, question: str, options: CouncilOptions, *, tool: str) -> DebateResult:
        mind = await self.ref.ready()
        mode = options.mode or "auto"  # set by for_debate or for_consensus
        max_rounds = mind.config.debate.max_rounds if options.rounds is None else options.rounds
        progress = DebateProgress(ctx, max_rounds)
        session_id = uuid.uuid4().hex[:12]
        result: DebateResult | None = None
        with translated_errors(tool):
            routing = None
            if self.door.is_gated:  # route here so admission knows the models; the graph reuses the routing
                routing = await anyio.to_thread.run_sync(partial(mind.route, question, mode=mode, experts=options.experts,
                                                                 is_council=True))
            with AdmittedRun(self._enter(mind, routing.selected if routing else [], tool=tool)) as run:
                waiting = threading.Event()
                try:
                    await anyio.to_thread.run_sync(run.wait, waiting, abandon_on_cancel=True)
                finally:
                    waiting.set()  # a cancelled call leaves the line
                # astream is an async generator (annotated as an iterator): aclose() runs its cancel
                events = cast(AsyncGenerator[DebateEvent, None], mind.astream(
                    question, session_id=session_id, options=options.with_values(rounds=max_rounds), routing=routing))
                # closing the stream (at the end, on an error, or when the call is cancelled) cancels the debate
                async with aclosing(events):
                    async for event in events:
                        if isinstance(event, TEXT_EVENTS):
                            run.token()
                        await progress.on(event)
                        if (final := result_of(event)) is not None:
                            result = final
                            run.succeed(tok_s=rate(final.tokens, final.total_s))
        if result is None:
            raise ToolError(f"session {session_id} ended without a result; call get_session for its state")
        if not result.positions:
            raise _no_answer(result)
        return result

    async def code(self, task: CodeTask, ctx: Context, signature: CodeSignature = None, tests: CodeTests = None,
                   experts: Experts = None, samples: CodeSamples = 1,
                   probes: CodeProbes = 0, lead_samples: CodeLeadSamples = 0) -> Annotated[CallToolResult, CodeResult]:
        """Experts write the function; the sandbox runs the candidates; what they do decides."""
        mind = await self.ref.ready()
        with translated_errors("code"):
            chosen = experts or list((await anyio.to_thread.run_sync(
                partial(mind.route, task, mode="parallel", is_council=True))).selected)
            return await run_code_tool(mind, ctx, self._enter(mind, chosen, tool="code"), task=task, signature=signature,
                                       tests=tests, experts=chosen, samples=samples, probes=probes,
                                       lead_samples=lead_samples)

    async def route(self, question: Question, mode: RouteMode = "auto") -> Annotated[CallToolResult, RouteDecision]:
        """Routing scores without generation."""
        mind = await self.ref.ready()
        with translated_errors("route"):
            decision = await anyio.to_thread.run_sync(partial(mind.route, question, mode=mode))
        return route_result(decision)

    async def list_experts(self) -> Annotated[CallToolResult, ExpertList]:
        """The configured experts."""
        mind = self.ref.now()
        listing = await anyio.to_thread.run_sync(expert_list, mind)
        return experts_result(listing)

    async def status(self) -> Annotated[CallToolResult, PoolStatus]:
        """RAM and the model pool."""
        mind = self.ref.now()
        status = await anyio.to_thread.run_sync(mind.status)
        return status_result(status)

    async def get_session(self, session_id: SessionId) -> Annotated[CallToolResult, SessionView]:
        """A stored session."""
        mind = self.ref.now()
        with translated_errors("get_session"):
            view = await anyio.to_thread.run_sync(session_view, mind, session_id)
        return session_result(view)
