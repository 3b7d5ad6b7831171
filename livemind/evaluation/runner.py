"""EvalRunner: the same questions through every method, on one LiveMind.

    questions ─┬─ best single expert, greedy ───────────────────────────────┐
               ├─ parallel consensus: council answers once, then synthesis ─┤
               ├─ debate: council answers, revises R rounds, synthesis ─────┼─→ EvalRun
               └─ self-consistency: the best expert sampled in rounds until │
                  its tokens reach the council's, then majority-voted ──────┘

Single answers and self-consistency samples are `LiveMind.ask` with the expert named and the
temperature set: 0 for greedy, `sc_temperature` for voting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from livemind.debate import expert_seed
from livemind.errors import EngineError, InvalidRequestError, PromptTooLongError, RemoteExpertError, UnknownExpertError
from livemind.evaluation.budget import match_budget, needs_more_samples
from livemind.evaluation.results import (
    Attempt,
    CouncilAttempt,
    CouncilKind,
    EvalRun,
    EvalSettings,
    ExpertChoice,
    JudgedPosition,
    PilotScore,
    ProblemRun,
)
from livemind.evaluation.selection import choose_best_expert, most_common
from livemind.evaluation.tasks import TASKS, Problem, generate_problems, held_out_problems
from livemind.extraction import ExtractionRule, extract_answer
from livemind.orchestrator import LiveMind
from livemind.types import DebateResult

Progress = Callable[[str], None]
"""Receives one line of progress at a time."""

PER_QUESTION_ERRORS = (EngineError, PromptTooLongError, RemoteExpertError)
"""Failures that cost one question its answer (recorded as wrong) rather than ending the eval."""


def _quiet(_: str) -> None:
    """Progress sink that discards."""


def _judged(text: str, tokens: int, seconds: float, rule: ExtractionRule, *, is_cut_off: bool = False) -> Attempt:
    extraction = extract_answer(text, rule, is_cut_off=is_cut_off)
    return Attempt(text=text, extracted=extraction.value, failure=extraction.failure, tokens=tokens,
                   seconds=round(seconds, 3))


def _failed(exc: Exception, seconds: float) -> Attempt:
    return Attempt(text="", extracted=None, failure=f"error: {exc}", tokens=0, seconds=round(seconds, 3))


class EvalRunner:
    """Runs one task through the best single expert, self-consistency, consensus and debate."""

    def __init__(self, mind: LiveMind, settings: EvalSettings, *, on_progress: Progress = _quiet) -> None:
        self.mind = mind
        self.settings = settings
        self._say = on_progress
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

    def _reply(self, name: str, problem: Problem, *, temperature: float, seed: int) -> Attempt:
        start = time.perf_counter()
        try:
            answer = self.mind.ask(problem.prompt, expert=name, max_tokens=self.settings.max_tokens, seed=seed,
                                   temperature=temperature)
        except PER_QUESTION_ERRORS as exc:
            return _failed(exc, time.perf_counter() - start)
        return _judged(answer.answer, answer.tokens, time.perf_counter() - start, self.settings.extraction,
                       is_cut_off=answer.finish_reason == "length")

    def greedy(self, name: str, problem: Problem) -> Attempt:
        """One expert's answer at temperature 0."""
        return self._reply(name, problem, temperature=0.0, seed=expert_seed(self.settings.seed, name, 0) or 0)

    def sample(self, name: str, problem: Problem, index: int) -> Attempt:
        """The index-th self-consistency sample of one expert on one problem (seeded, reproducible)."""
        seed = expert_seed(self.settings.seed, f"self-consistency/{problem.id}", index) or 0
        return self._reply(name, problem, temperature=self.settings.sc_temperature, seed=seed)

    def council(self, kind: CouncilKind, experts: Sequence[str], problem: Problem) -> CouncilAttempt:
        """A consensus or a debate of the council on one problem, its answer and positions judged."""
        seed = expert_seed(self.settings.seed, f"council/{problem.id}", 0)
        start = time.perf_counter()
        try:
            if kind == "consensus":
                result = self.mind.consensus(problem.prompt, experts=list(experts), seed=seed,
                                             max_tokens=self.settings.max_tokens)
            else:
                result = self.mind.debate(problem.prompt, experts=list(experts), rounds=self.settings.rounds,
                                          mode="parallel", seed=seed, max_tokens=self.settings.max_tokens,
                                          selective=False)
        except PER_QUESTION_ERRORS as exc:
            return CouncilAttempt(reply=_failed(exc, time.perf_counter() - start), session_id=None, rounds=0,
                                  stop_reason=f"failed: {exc}", synthesizer="", synthesis_error=None, positions=())
        return self._judge_council(result, problem, time.perf_counter() - start, self.settings.extraction)

    @staticmethod
    def _judge_council(result: DebateResult, problem: Problem, seconds: float, rule: ExtractionRule) -> CouncilAttempt:
        positions = []
        for record in result.history:
            for p in record.positions:
                value = extract_answer(p.text, rule).value
                positions.append(JudgedPosition(expert=p.expert, round=p.round, extracted=value,
                                                is_correct=value == problem.answer))
        return CouncilAttempt(reply=_judged(result.answer, result.tokens, seconds, rule), session_id=result.session_id,
                              rounds=result.rounds, stop_reason=result.stop_reason, synthesizer=result.synthesizer,
                              synthesis_error=result.synthesis_error, positions=tuple(positions))

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
        """The best single expert, with the tokens and seconds the pilot spent choosing it."""
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
            attempts = [self.greedy(name, p) for p in pilot]
            correct = sum(a.extracted == p.answer for a, p in zip(attempts, pilot, strict=True))
            scores.append(PilotScore(expert=name, correct=correct, n=len(pilot), tokens=sum(a.tokens for a in attempts)))
            tokens += scores[-1].tokens
            self._say(f"pilot: {name} {correct}/{len(pilot)}")
        return choose_best_expert(scores, router_pick, share), tokens, time.perf_counter() - start

    def _warm(self, names: Sequence[str]) -> None:
        """Load every model before the clock runs, so no method pays for a load."""
        for name in dict.fromkeys(names):
            self.mind.ask("Hello", expert=name, max_tokens=1)

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> EvalRun:
        """Run every method on the task's questions and return the judged run."""
        s = self.settings
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        clock = time.perf_counter()
        problems = generate_problems(s.task, s.n, s.seed)
        council, council_reason = self.choose_council(problems)
        self._say(f"council: {', '.join(council)} ({council_reason})")
        choice, pilot_tokens, pilot_seconds = self.choose_expert(problems)
        self._say(f"best single expert: {choice.expert} ({choice.reason})")
        synthesizer = self.mind.config.debate.synthesizer
        self._warm([choice.expert, *council, synthesizer])

        singles, consensus, debates = [], [], []
        for i, problem in enumerate(problems, 1):
            singles.append(self.greedy(choice.expert, problem))
            consensus.append(self.council("consensus", council, problem))
            debates.append(self.council("debate", council, problem))
            marks = " ".join(f"{name} {'✓' if a.extracted == problem.answer else '✗'}" for name, a in
                             (("single", singles[-1]), ("consensus", consensus[-1].reply), ("debate", debates[-1].reply)))
            self._say(f"[{i}/{len(problems)}] {marks}")

        targets: dict[CouncilKind, int] = {"consensus": sum(c.reply.tokens for c in consensus),
                                           "debate": sum(d.reply.tokens for d in debates)}
        samples = self._sample_until(choice.expert, problems, max(targets.values()))
        sample_tokens = [[a.tokens for a in per_problem] for per_problem in samples]
        budgets = tuple(match_budget(sample_tokens, targets[kind], against=kind, tolerance=s.tolerance)
                        for kind in ("consensus", "debate"))
        for b in budgets:
            self._say(f"self-consistency matched to {b.against}: k={b.k}, {b.tokens:,} vs {b.target_tokens:,} tokens")

        runs = tuple(ProblemRun(problem=p, single=a, samples=tuple(ss), consensus=c, debate=d)
                     for p, a, ss, c, d in zip(problems, singles, samples, consensus, debates, strict=True))
        used = dict.fromkeys([choice.expert, *council, synthesizer])
        return EvalRun(settings=s, models={n: self.mind.config.expert(n).model for n in used}, choice=choice,
                       council=council, council_reason=council_reason, synthesizer=synthesizer, problems=runs,
                       budgets=budgets, pilot_tokens=pilot_tokens, pilot_seconds=round(pilot_seconds, 2),
                       total_seconds=round(time.perf_counter() - clock, 2), started_at=started_at)

    def _sample_until(self, name: str, problems: Sequence[Problem], target_tokens: int) -> list[list[Attempt]]:
        """Self-consistency samples, drawn a round at a time (one per question) until the target is reached."""
        samples: list[list[Attempt]] = [[] for _ in problems]
        while needs_more_samples([[a.tokens for a in per] for per in samples], target_tokens, self.settings.max_samples):
            index = len(samples[0])
            for per_problem, problem in zip(samples, problems, strict=True):
                per_problem.append(self.sample(name, problem, index))
            drawn = sum(a.tokens for per_problem in samples for a in per_problem)
            self._say(f"self-consistency: {index + 1} sample(s) per question, {drawn:,} of {target_tokens:,} tokens")
        return samples
