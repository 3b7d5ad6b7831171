"""From a validated request to admitted work: resolve the model, route, queue, run, measure.

    model name ── plan() ──▶ Plan(kind, experts, models, routing)      (routing happens here,
                                 │                                      so admission knows which
                                 ▼                                      models a council needs)
                  start() ── Admission.enter(models) ──▶ 429 when a lane is full
                                 │
                                 ▼
                  worker thread: wait its turn → mind.ask / mind.stream → Finished | Failed
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Literal

from livemind.council.options import CouncilOptions, offered
from livemind.errors import GenerationCancelled, InvalidRequestError, LiveMindError
from livemind.events import TEXT_EVENTS, TokenEvent, result_of
from livemind.http.errors import HttpProblem
from livemind.http.wire import AUTO_MODEL, CONSENSUS_MODEL, DEBATE_MODEL, VIRTUAL_MODELS, council_mode
from livemind.orchestrator import LiveMind
from livemind.server.admitted import AdmittedRun, rate
from livemind.server.gate import Gate, Pass
from livemind.server.jobs import Failed, Finished, Job, JobRegistry
from livemind.types import RouteDecision

PlanKind = Literal["expert", "consensus", "debate"]


@dataclass(frozen=True)
class Plan:
    """What one request will run: which experts, on which models, and why they were chosen."""

    kind: PlanKind
    label: str
    question: str
    experts: tuple[str, ...]
    models: tuple[str, ...]
    routing: RouteDecision | None
    options: CouncilOptions  # a single expert reads max_tokens, seed and temperature


class Dispatcher:
    """Plans requests against the configured experts and runs them through admission."""

    def __init__(self, mind: LiveMind, gate: Gate, jobs: JobRegistry) -> None:
        self.mind = mind
        self.gate = gate
        self.jobs = jobs

    @property
    def model_ids(self) -> list[str]:
        """Every name a client may put in `model`: the experts, then the virtual models."""
        return [*self.mind.config.expert_names, *VIRTUAL_MODELS]

    def _model_of(self, expert: str) -> str:
        return self.mind.config.expert(expert).model

    def plan(self, model: str, question: str, options: CouncilOptions) -> Plan:
        """Resolve `model` and route the question (blocking: embeds it).

        temperature: a single expert's, or every council expert's answers (default: each expert's own).
        """
        names = self.mind.config.expert_names
        if model in names or model == AUTO_MODEL:
            if options.model_fields_set & set(offered("chat")):  # what rides in the `livemind` field is a council's
                raise InvalidRequestError(f"'livemind' council options apply to {CONSENSUS_MODEL} and {DEBATE_MODEL}, "
                                          f"not to '{model}'", hint="drop the 'livemind' field or pick a virtual model")
            routing = self.mind.route(question, mode="single") if model == AUTO_MODEL else None
            expert = routing.selected[0] if routing is not None else model
            return Plan(kind="expert", label=model, question=question, experts=(expert,),
                        models=(self._model_of(expert),), routing=routing, options=options)
        if model not in (CONSENSUS_MODEL, DEBATE_MODEL):
            raise HttpProblem(404, "model_not_found", f"unknown model '{model}'",
                              f"use one of: {', '.join(self.model_ids)} (GET /v1/models lists them)")
        is_debate = model == DEBATE_MODEL
        if not is_debate and options.rounds:
            raise InvalidRequestError(f"{CONSENSUS_MODEL} runs no debate rounds, got rounds={options.rounds}",
                                      hint=f"use {DEBATE_MODEL} for rounds")
        chosen_mode = council_mode(options.mode, is_debate=is_debate)
        routing = self.mind.route(question, mode=chosen_mode, experts=options.experts, is_council=True)
        kind: PlanKind = "debate" if is_debate else "consensus"
        rounds = (self.mind.config.debate.max_rounds if options.rounds is None else options.rounds) if is_debate else 0
        return Plan(kind=kind, label=model, question=question, experts=routing.selected,
                    models=tuple(dict.fromkeys(self._model_of(e) for e in routing.selected)), routing=routing,
                    options=options.with_values(mode=chosen_mode, rounds=rounds,
                                                strategy=options.strategy or ("debate" if is_debate else None)))

    def start(self, plan: Plan, endpoint: str) -> Job:
        """Queue the plan (BusyError when its lanes are full) and start it on a worker thread."""
        admitted = self.gate.enter(plan.models, endpoint=endpoint, label=plan.label)
        job = Job(plan.label, asyncio.get_running_loop())
        job.on_cancel(admitted.ticket.abandon)
        job.on_cancel(admitted.tracker.cancel_requested)
        if plan.kind == "expert":
            self.jobs.start(job, lambda j: self._run_expert(j, plan, admitted))
        else:
            self.jobs.start(job, lambda j: self._run_council(j, plan, admitted))
        return job

    def _run_expert(self, job: Job, plan: Plan, admitted: Pass) -> None:
        expert = plan.experts[0]

        try:
            with AdmittedRun(admitted, is_cancelled=lambda: job.is_cancelled) as run:
                def on_token(piece: str) -> None:
                    job.mark("first_token")
                    run.token()
                    job.emit(TokenEvent(expert=expert, round=0, text=piece))

                run.wait(job.cancel_event)
                job.mark("admitted")
                given = plan.options
                answer = self.mind.ask(plan.question, expert=expert, max_tokens=given.max_tokens, seed=given.seed,
                                       temperature=given.temperature, on_token=on_token, cancel=job.cancel_event)
                answer = answer.model_copy(update={"stages": request_stages(job.marks, answer.stages)})
                if plan.routing is not None:
                    answer = answer.model_copy(update={"routing": plan.routing})
                run.succeed(tok_s=answer.tok_s)  # before the result goes out: whoever runs next sees this one counted
            job.emit(Finished(answer))
        except LiveMindError as exc:
            job.emit(Failed(_explained(exc, job)))

    def _run_council(self, job: Job, plan: Plan, admitted: Pass) -> None:
        session_id = uuid.uuid4().hex[:12]
        is_streaming = False

        def stop_session() -> None:
            if is_streaming:
                self.mind.cancel(session_id)

        job.on_cancel(stop_session)
        try:
            with AdmittedRun(admitted, is_cancelled=lambda: job.is_cancelled) as run:
                run.wait(job.cancel_event)
                is_streaming = True
                for event in self.mind.stream(plan.question, options=plan.options, session_id=session_id,
                                              routing=plan.routing):
                    if job.is_cancelled:  # a cancel that came before the session began was cleared by it
                        self.mind.cancel(session_id)
                    if (result := result_of(event)) is not None:
                        run.succeed(tok_s=rate(result.tokens, result.total_s))
                        job.emit(Finished(result))
                        continue
                    if isinstance(event, TEXT_EVENTS):
                        run.token()
                    job.emit(event)
        except LiveMindError as exc:
            job.emit(Failed(_explained(exc, job)))
        finally:
            is_streaming = False


def request_stages(marks: dict[str, float], engine: dict[str, float]) -> dict[str, float]:
    """Seconds before the first token, stage by stage, from the request's arrival to its first SSE frame.

    received → planned: parsing and routing; → admitted: the admission lanes; → the engine's own
    stages (queue for a sequence, chat template, prefill to the first token); what remains between
    admission and the first token is the hand-off (scheduler, pool lease, runner); first token →
    first frame written: SSE framing and the event loop (known once that frame has gone out).
    """
    stages: dict[str, float] = {}
    if "received" in marks and "planned" in marks:
        stages["parse_and_route"] = marks["planned"] - marks["received"]
    if "planned" in marks and "admitted" in marks:
        stages["admission"] = marks["admitted"] - marks["planned"]
    if "admitted" in marks and "first_token" in marks:
        stages["handoff"] = max(0.0, marks["first_token"] - marks["admitted"] - sum(engine.values()))
    stages.update(engine)
    if "first_token" in marks and "first_frame_sent" in marks:
        stages["sse"] = marks["first_frame_sent"] - marks["first_token"]
    return {name: round(seconds, 6) for name, seconds in stages.items()}


def _explained(error: LiveMindError, job: Job) -> LiveMindError:
    """A cancellation that says why (the server is shutting down, the client left), not just that it happened."""
    if isinstance(error, GenerationCancelled) and job.is_cancelled and job.cancel_reason \
            and job.cancel_reason not in error.message:
        return GenerationCancelled(f"{error.message}: {job.cancel_reason}", hint=error.hint)
    return error
