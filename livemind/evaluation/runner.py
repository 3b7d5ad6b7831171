"""EvalRunner: the same questions through every method, on one LiveMind, resumable question by question.

    plan (once): questions · council (router) · best single expert (held-out pilot, batched)
    per question, kept on disk when done:
        best single expert, greedy
        selective debate ─┬─ its first round, majority-voted ─────────────── vote
                          └─ triggered? with one revision round it *is* the full debate
        full debate (selective off; run only when the selective one stopped early)
        select (each expert samples k answers; the most self-consistent expert's answer)
        self-consistency samples of the best expert, drawn in batches up to the costliest council
    at the end: samples topped up (batched across questions) until every council method's total
    generated tokens can be matched; then the budgets are matched.

Single answers and self-consistency samples are `LiveMind.ask` with the expert named and the
temperature set (0 greedy, the expert's council temperature for the sampled single answer, and for
self-consistency `sc_temperature`, chosen on the pilot unless given: evaluation.temperature);
samples of one model are asked for concurrently, so the engine decodes them as one batch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from livemind.council.prompts import expert_seed
from livemind.council.strategies import SPLIT, count_votes
from livemind.engine.cpu import cpu_label
from livemind.errors import InvalidRequestError, UnknownExpertError
from livemind.evaluation.budget import needs_more_samples, samples_drawn
from livemind.evaluation.judging import council_cut_off, failed_council, judged
from livemind.evaluation.reading import is_cut_off, read_reply
from livemind.evaluation.replies import PER_QUESTION_ERRORS, Replies
from livemind.evaluation.results import (
    COUNCIL_METHODS,
    Attempt,
    CouncilAttempt,
    CouncilKind,
    EvalRun,
    EvalSettings,
    ExpertChoice,
    JudgedPosition,
    PilotScore,
    ProblemRun,
    RunPart,
)
from livemind.evaluation.selection import choose_best_expert, most_common
from livemind.evaluation.store import RunPlan, RunStore, finished_run
from livemind.evaluation.tasks import TASKS, Problem, generate_problems, held_out_problems
from livemind.evaluation.temperature import (
    PILOT_SAMPLES,
    TemperatureScore,
    best_temperature,
    candidate_temperatures,
    temperature_score,
)
from livemind.evaluation.voting import SPLIT_FAILURE, majority_vote, vote_failure
from livemind.orchestrator import LiveMind
from livemind.types import DebateResult

Progress = Callable[[str], None]
"""Receives one line of progress at a time."""

Advance = Callable[[int, int], None]
"""Told (questions done, questions in all) whenever a question finishes: drives a progress bar."""


def _quiet(*_: object) -> None:
    """Progress sink that discards."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class EvalRunner:
    """Runs one task through the best single expert, self-consistency, vote, select and (selective) debate."""

    def __init__(self, mind: LiveMind, settings: EvalSettings, *, on_progress: Progress = _quiet,
                 on_advance: Advance = _quiet, store: RunStore | None = None) -> None:
        self.mind = mind
        self.settings = settings
        self._say = on_progress
        self._advance = on_advance
        self.store = store
        self.reuse = RunStore(Path(settings.reuse)) if settings.reuse else None
        self.replies = Replies(mind, settings)
        self._check()

    def _check(self) -> None:
        s = self.settings
        names = self.mind.config.expert_names
        if s.task not in TASKS:
            raise InvalidRequestError(f"unknown task '{s.task}'", hint=f"use one of: {', '.join(TASKS)}")
        for name in (*(s.experts or ()), *((s.best_expert,) if s.best_expert else ())):
            if name not in names:
                raise UnknownExpertError(name, names)
        if s.experts is not None and len(set(s.experts)) < 2:
            raise InvalidRequestError("a council needs at least two experts",
                                      hint="pass two or more names to --experts, or leave it out to let the router choose")

    # -- generation ----------------------------------------------------------------------------

    def _singles(self, expert: str, problem: Problem, earlier: ProblemRun | None) -> tuple[Attempt, Attempt | None]:
        """The single expert greedy and at its council temperature (0: none), decoded as one batch."""
        jobs: dict[str, Callable[[], Attempt]] = {}
        if earlier is None:
            jobs["greedy"] = partial(self.replies.greedy, expert, problem)
        if self.replies.council_temperature(expert) > 0 and (earlier is None or earlier.single_sampled is None):
            jobs["sampled"] = partial(self.replies.sampled, expert, problem)
        done = dict(zip(jobs, self.replies.batched(list(jobs.values())), strict=True))
        single = done["greedy"] if earlier is None else earlier.single
        return single, done.get("sampled") or (earlier.single_sampled if earlier else None)

    def council(self, kind: CouncilKind, experts: Sequence[str], problem: Problem) -> tuple[CouncilAttempt, DebateResult | None]:
        """One council strategy on one problem: `select`, `selective` or `debate` (selective off), judged."""
        s = self.settings
        seed = expert_seed(s.seed, f"council/{problem.id}", 0)
        start = time.perf_counter()
        try:
            if kind == "select":
                result = self.mind.consensus(problem.prompt, experts=list(experts), mode="parallel", seed=seed,
                                             max_tokens=s.max_tokens, strategy="select", samples=s.samples,
                                             temperature=s.council_temperature)
            else:
                result = self.mind.debate(problem.prompt, experts=list(experts), rounds=s.rounds, mode="parallel",
                                          seed=seed, max_tokens=s.max_tokens, strategy="debate",
                                          selective=kind == "selective", transcript=s.transcript,
                                          temperature=s.council_temperature)
        except PER_QUESTION_ERRORS as exc:
            return failed_council(exc, time.perf_counter() - start), None
        return self._judge_council(result, problem, time.perf_counter() - start), result

    def _judge_council(self, result: DebateResult, problem: Problem, seconds: float) -> CouncilAttempt:
        rule, limit = self.settings.extraction, self.settings.max_tokens
        read = [(p, read_reply(p.text, rule, is_cut_off=is_cut_off(p.tokens, limit)).value)
                for record in result.history for p in record.positions]
        positions = [JudgedPosition(expert=p.expert, round=p.round, extracted=value, is_correct=value == problem.answer,
                                    mean_logprob=p.mean_logprob)
                     for p, value in read]
        reply = judged(result.answer, result.tokens, seconds, rule, prompt_tokens=result.prompt_tokens,
                        was_cut_off=council_cut_off(result, limit))
        if result.synthesizer.endswith(SPLIT):  # a split select states the tied numbers: it answers none of them
            reply = reply.model_copy(update={"extracted": None, "failure": f"{SPLIT_FAILURE}: {result.synthesizer}"})
        first = [p.extracted for p in positions if p.round == 0]
        attempt = CouncilAttempt(reply=reply, session_id=result.session_id, rounds=result.rounds,
                                 stop_reason=result.stop_reason, synthesizer=result.synthesizer,
                                 synthesis_error=result.synthesis_error, positions=tuple(positions),
                                 first_vote=majority_vote(first), debate_triggered=result.debate_triggered,
                                 trigger_reason=result.trigger_reason)
        return attempt.model_copy(update={"agreement": attempt.checkable_agreement()})

    @staticmethod
    def vote_of(attempt: CouncilAttempt, result: DebateResult | None) -> CouncilAttempt:
        """`vote` read from a debate's first round: the same prompts and seeds `strategy="vote"` runs, then stops."""
        if result is None or not result.history:
            return attempt.model_copy(update={"source": "the selective debate failed before its first round"})
        first = [p for p in result.history[0].positions if p.sample == 0]
        judged = tuple(p for p in attempt.positions if p.round == 0)
        # the live vote's rule: weighted by each reply's confidence when every reply has one, else counted
        values, confidences = [p.extracted for p in judged], [p.mean_logprob for p in judged]
        winner = count_votes(values, confidences).winner
        text = next((p.text for p, j in zip(first, judged, strict=False) if j.extracted == winner), first[0].text)
        reply = Attempt(text=text, extracted=winner, failure=vote_failure(values, confidences),
                        tokens=sum(p.tokens for p in first), prompt_tokens=sum(p.prompt_tokens for p in first),
                        seconds=round(max(p.total_s for p in first), 3))
        vote = CouncilAttempt(reply=reply, session_id=attempt.session_id, rounds=0, stop_reason="vote of the first answers",
                              synthesizer="vote", synthesis_error=None, positions=judged, first_vote=attempt.first_vote,
                              source="the selective debate's first round (same prompts and seeds)")
        return vote.model_copy(update={"agreement": vote.checkable_agreement()})

    # -- one question --------------------------------------------------------------------------

    def question(self, problem: Problem, council: Sequence[str], expert: str,
                 earlier: ProblemRun | None = None) -> ProblemRun:
        """Every method on one problem; self-consistency samples drawn up to the costliest council method.

        earlier: the same problem in the run named by `reuse`, whose single answer, select and samples
        (which the debate layout does not touch) are taken instead of generated again.
        """
        start = time.perf_counter()
        single, single_sampled = self._singles(expert, problem, earlier)
        selective, selective_result = self.council("selective", council, problem)
        vote = self.vote_of(selective, selective_result)
        if self.settings.rounds == 1 and selective.debate_triggered:
            debate = selective.model_copy(update={"source": "the selective debate, which was triggered: with one "
                                                            "revision round it ran the full debate's steps"})
        else:
            debate, _ = self.council("debate", council, problem)
        select = earlier.select if earlier else self.council("select", council, problem)[0]
        costliest = max(vote.reply.tokens, select.reply.tokens, selective.reply.tokens, debate.reply.tokens)
        samples = self._samples_up_to(expert, problem, list(earlier.samples) if earlier else [], costliest)
        return ProblemRun(problem=problem, single=single, single_sampled=single_sampled, samples=tuple(samples),
                          vote=vote, select=select,
                          selective=selective, debate=debate, seconds=round(time.perf_counter() - start, 2),
                          reused=("single", "select", "samples") if earlier else ())

    def _earlier(self, index: int, problem: Problem) -> ProblemRun | None:
        """Question `index` of the reused run, when there is one and it asked the same problem."""
        kept = self.reuse.question(index) if self.reuse else None
        if kept is not None and (kept.problem.id, kept.problem.answer) != (problem.id, problem.answer):
            raise InvalidRequestError(f"question {index} of {self.settings.reuse} is another problem ({kept.problem.id})",
                                      hint="reuse a run made with the same --task, --n and --seed")
        return kept

    def _reused_plan(self) -> RunPlan | None:
        """The reused run's plan, refused unless it asked the same questions the same way."""
        return self.reuse.reusable_plan(self.settings, str(self.settings.reuse)) if self.reuse else None

    def _samples_up_to(self, expert: str, problem: Problem, have: list[Attempt], target_tokens: int) -> list[Attempt]:
        """Draw samples in batches until their tokens reach the target (or max_samples)."""
        samples = list(have)
        while len(samples) < self.settings.max_samples and sum(a.tokens for a in samples) < target_tokens:
            mean = (sum(a.tokens for a in samples) / len(samples)) if samples else self.settings.max_tokens / 2
            missing = target_tokens - sum(a.tokens for a in samples)
            want = min(self.settings.batch, self.settings.max_samples - len(samples), max(1, math.ceil(missing / max(mean, 1))))
            first = len(samples)
            samples += self.replies.batched([partial(self.replies.sample, expert, problem, first + j) for j in range(want)])
        return samples

    # -- choices -------------------------------------------------------------------------------

    def choose_council(self, problems: Sequence[Problem]) -> tuple[tuple[str, ...], str]:
        """The council: --experts, or the set the router convenes most often for these questions."""
        if self.settings.experts:
            return tuple(dict.fromkeys(self.settings.experts)), "chosen with --experts"
        picks = [self.mind.route(p.prompt, mode="parallel", is_council=True).selected for p in problems]
        members, count = most_common([frozenset(pick) for pick in picks])
        council = next(pick for pick in picks if frozenset(pick) == members)
        return council, f"the router convenes it for {count} of {len(problems)} questions"

    def choose_expert(self, problems: Sequence[Problem]) -> tuple[ExpertChoice, int, float]:
        """The best single expert, with the tokens and seconds the (batched) pilot spent choosing it."""
        if self.settings.best_expert:
            return ExpertChoice(expert=self.settings.best_expert, how="given", reason="named with --best-expert"), 0, 0.0
        picks = [self.mind.route(p.prompt, mode="single").selected[0] for p in problems]
        router_pick, count = most_common(picks)
        share = f"{count} of the {len(problems)} questions"
        if self.settings.pilot_n == 0:
            return choose_best_expert((), router_pick, share), 0, 0.0
        pilot = held_out_problems(self.settings.task, self.settings.pilot_n, self.settings.seed, list(problems))
        scores, tokens, start = [], 0, time.perf_counter()
        for name in self.mind.config.expert_names:
            attempts = self.replies.batched([partial(self.replies.greedy, name, p) for p in pilot])
            correct = sum(a.extracted == p.answer for a, p in zip(attempts, pilot, strict=True))
            scores.append(PilotScore(expert=name, correct=correct, n=len(pilot), tokens=sum(a.tokens for a in attempts)))
            tokens += scores[-1].tokens
            self._say(f"pilot: {name} {correct}/{len(pilot)}")
        return choose_best_expert(scores, router_pick, share), tokens, time.perf_counter() - start

    def choose_sc_temperature(self, problems: Sequence[Problem],
                              expert: str) -> tuple[float, tuple[TemperatureScore, ...], int, float]:
        """Self-consistency's temperature: given, or the pilot's best (TEMPERATURE_RULE), with its tokens and seconds."""
        if self.settings.sc_temperature is not None:
            return self.settings.sc_temperature, (), 0, 0.0
        pilot = held_out_problems(self.settings.task, max(self.settings.pilot_n, 1), self.settings.seed, list(problems))
        scores, start = [], time.perf_counter()
        for t in candidate_temperatures(self.mind.config.expert(expert).sampling.temperature):
            draw = self.replies.sample
            attempts = self.replies.batched([partial(draw, expert, p, i, t) for p in pilot for i in range(PILOT_SAMPLES)])
            answers = [[a.extracted for a in attempts[j * PILOT_SAMPLES:(j + 1) * PILOT_SAMPLES]] for j in range(len(pilot))]
            scores.append(temperature_score(t, answers, [p.answer for p in pilot], sum(a.tokens for a in attempts)))
            self._say(f"pilot: {expert} at T={t}: vote right on {scores[-1].correct}/{len(pilot)}")
        return (best_temperature(scores).temperature, tuple(scores), sum(s.tokens for s in scores),
                time.perf_counter() - start)

    def _warm(self, names: Sequence[str]) -> None:
        """Load every model before the clock runs, so no method pays for a load."""
        for name in dict.fromkeys(names):
            self.mind.ask("Hello", expert=name, max_tokens=1)

    def plan(self, problems: Sequence[Problem]) -> RunPlan:
        """The council and the baseline expert (from the store when resuming)."""
        saved = self.store.plan(self.settings) if self.store else None
        if saved is not None:
            self._say(f"resuming: council {', '.join(saved.council)}, best single expert {saved.choice.expert}")
            return saved
        started_at = _now()
        reused = self._reused_plan()
        if reused is not None:  # the same council and baseline as the run whose answers are taken
            council, council_reason = reused.council, f"{reused.council_reason} (from {self.settings.reuse})"
            choice, pilot_tokens, pilot_seconds = reused.choice, reused.pilot_tokens, reused.pilot_seconds
            sc_temperature, sc_pilot = reused.sampling_temperature, reused.sc_pilot
            self._say(f"taking single, select and self-consistency answers from {self.settings.reuse}")
        else:
            council, council_reason = self.choose_council(problems)
            choice, pilot_tokens, pilot_seconds = self.choose_expert(problems)
            sc_temperature, sc_pilot, tokens, seconds = self.choose_sc_temperature(problems, choice.expert)
            pilot_tokens, pilot_seconds = pilot_tokens + tokens, pilot_seconds + seconds
        self._say(f"council: {', '.join(council)} ({council_reason})")
        self._say(f"best single expert: {choice.expert} ({choice.reason})")
        synthesizer = self.mind.config.debate.synthesizer
        used = dict.fromkeys([choice.expert, *council, synthesizer])
        plan = RunPlan(settings=self.settings, council=council, council_reason=council_reason, choice=choice,
                       synthesizer=synthesizer, models={n: self.mind.config.expert(n).model for n in used},
                       pilot_tokens=pilot_tokens, pilot_seconds=round(pilot_seconds, 2), started_at=started_at,
                       sc_temperature=sc_temperature, sc_pilot=sc_pilot)
        if self.store:
            self.store.save_plan(plan)
        return plan

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> EvalRun:
        """Run every method on the task's questions (skipping those already kept) and return the judged run."""
        s = self.settings
        problems = generate_problems(s.task, s.n, s.seed)
        parts = self.store.parts() if self.store else []
        part = RunPart(index=len(parts) + 1, started_at=_now(), seconds=0.0, questions=0, machine=cpu_label())
        clock = time.perf_counter()
        plan = self.plan(problems)
        self.replies.sc_temperature = plan.sampling_temperature
        self._warm([plan.choice.expert, *plan.council, plan.synthesizer])

        def record(questions: int) -> None:
            nonlocal part
            part = part.model_copy(update={"seconds": round(time.perf_counter() - clock, 1), "questions": questions})
            if self.store:
                self.store.save_parts([*parts, part])

        runs: list[ProblemRun] = []
        for i, problem in enumerate(problems):
            kept = self.store.question(i) if self.store else None
            if kept is None:
                kept = self.question(problem, plan.council, plan.choice.expert,
                                     self._earlier(i, problem)).model_copy(update={"part": part.index})
                if self.store:
                    self.store.save_question(i, kept)
                record(part.questions + 1)
                marks = " ".join(f"{m} {'✓' if kept.council(m).reply.extracted == problem.answer else '✗'}"
                                 for m in COUNCIL_METHODS)
                self._say(f"[{i + 1}/{len(problems)}] single {'✓' if kept.single.extracted == problem.answer else '✗'} "
                          f"{marks} · {len(kept.samples)} samples · {kept.seconds:.0f} s")
            runs.append(kept)
            self._advance(i + 1, len(problems))
        runs = self._top_up(runs, plan.choice.expert)
        record(part.questions)
        return self._finish(plan, runs, [*parts, part])

    def _targets(self, runs: Sequence[ProblemRun]) -> dict[CouncilKind, int]:
        return {kind: sum(r.council(kind).reply.tokens for r in runs) for kind in COUNCIL_METHODS}

    def _top_up(self, runs: list[ProblemRun], expert: str) -> list[ProblemRun]:
        """Draw more samples (batched across questions) until every method's total can be matched."""
        target = max(self._targets(runs).values())
        while needs_more_samples([[a.tokens for a in r.samples] for r in runs], target, self.settings.max_samples):
            drawn = samples_drawn([[a.tokens for a in r.samples] for r in runs])
            lagging = [i for i, r in enumerate(runs) if len(r.samples) == drawn]
            fresh = self.replies.batched([partial(self.replies.sample, expert, runs[i].problem, drawn) for i in lagging])
            for i, attempt in zip(lagging, fresh, strict=True):
                runs[i] = runs[i].model_copy(update={"samples": (*runs[i].samples, attempt)})
                if self.store:
                    self.store.save_question(i, runs[i])
            self._say(f"self-consistency top-up: {drawn + 1} samples on every question")
        return runs

    def _finish(self, plan: RunPlan, runs: Sequence[ProblemRun], parts: Sequence[RunPart]) -> EvalRun:
        run = finished_run(plan, runs, parts)
        for b in run.budgets:
            self._say(f"self-consistency matched to {b.against}: k={b.k}, {b.tokens:,} vs {b.target_tokens:,} tokens")
        return run
