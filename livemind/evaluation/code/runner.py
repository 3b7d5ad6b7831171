"""CodeEvalRunner: HumanEval through the best single expert and the council, resumable problem by problem.

    plan (once, saved): problems split into a held-out pilot and the scored rest
        pilot: every persona greedy → the best single expert (most passed; ties: fewer tokens)
               its samples at each temperature → the sampling temperature (execution-selected passes)
        council: --experts, or the set the router convenes most often for the scored prompts
    per scored problem, each method kept on disk when judged:
        single           the best expert, greedy
        council-greedy   every council persona greedy, through `consensus(strategy="vote")`
        samples          the best expert's k samples at the chosen temperature
        council-sampled  every council persona at the same temperature, through the vote strategy
        probes           the council's personas write test inputs; the pools above run on them (probing.py)
        personas-greedy  the personas no other method asks, greedy: every persona then has one answer (personas.py)
        debate           the selective debate at that temperature (revision only on disagreement),
                         ending with the execution-checked pick of the revised code (plugins/debate.py)
        select           the `select` strategy (samples per expert, the most self-consistent expert)
        more-samples     one more sample of the best expert per persona (self-consistency at the pool's size)

Every reply goes through one reading rule (programs.py), the sandbox runs it on the docstring's
examples (evidence.py, what selection may see) and on the official tests (verdicts.py, what scores).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import UTC, datetime
from functools import partial

from pydantic import Field

from livemind.council.code.consensus import code_question
from livemind.council.code.evidence import gather_evidence
from livemind.council.code.programs import read_program
from livemind.council.code.selection import select_by_execution
from livemind.council.prompts import expert_seed
from livemind.engine.cpu import cpu_label
from livemind.errors import EngineError, InvalidRequestError, PromptTooLongError, RemoteExpertError, UnknownExpertError
from livemind.evaluation.code.personas import missing_personas
from livemind.evaluation.code.probing import PROBE_POOLS, run_probes
from livemind.evaluation.code.problems import CodeProblem, load_humaneval, split_pilot
from livemind.evaluation.code.records import (
    GENERATION_METHODS,
    Candidate,
    CodeEvalSettings,
    CodePlan,
    MethodRun,
    PilotScore,
)
from livemind.evaluation.code.store import CodeRunStore, WorkPart, source_version
from livemind.evaluation.code.verdicts import official_verdict
from livemind.evaluation.selection import most_common
from livemind.orchestrator import LiveMind
from livemind.types import DebateResult, Position, Strategy, Value

CODE_TASK = "Complete the following Python function."
"""The task every method is given, with the problem's prompt as the stub to complete (`code_question`):
the same words for the single expert, the samples, the council and `livemind code`."""

PER_PROBLEM_ERRORS = (EngineError, PromptTooLongError, RemoteExpertError)

Progress = Callable[[str], None]
Advance = Callable[[int, int], None]


def _quiet(*_: object) -> None:
    """Progress sink that discards."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def code_prompt(problem: CodeProblem) -> str:
    """The question put to an expert for one problem."""
    return code_question(CODE_TASK, problem.prompt)


class CodeRun(Value):
    """A run as far as it got: the plan and every judged method run, by problem."""

    plan: CodePlan
    problems: dict[str, dict[str, MethodRun]]
    parts: tuple[WorkPart, ...]
    pilot_greedy: dict[str, dict[str, Candidate]] = Field(default_factory=dict)  # pilot task → persona → greedy candidate


class CodeEvalRunner:
    """Runs HumanEval through the methods asked for, on one LiveMind, keeping each judged method run."""

    def __init__(self, mind: LiveMind, settings: CodeEvalSettings, *, methods: Sequence[str] = GENERATION_METHODS,
                 store: CodeRunStore | None = None, on_progress: Progress = _quiet, on_advance: Advance = _quiet,
                 poll_s: float = 5.0) -> None:
        self.mind = mind
        self.poll_s = poll_s  # how often to look again when every problem left is held by another process
        self.settings = settings
        self.methods = tuple(m for m in GENERATION_METHODS if m in methods)
        self.store = store
        self._say = on_progress
        self._advance = on_advance
        unknown = sorted(set(methods) - set(GENERATION_METHODS))
        if unknown:
            raise InvalidRequestError(f"unknown method(s): {', '.join(unknown)}",
                                      hint=f"use any of: {', '.join(GENERATION_METHODS)}")
        names = mind.config.expert_names
        for name in (*(settings.experts or ()), *((settings.best_expert,) if settings.best_expert else ())):
            if name not in names:
                raise UnknownExpertError(name, names)

    # -- judging -------------------------------------------------------------------------------

    def judge(self, problem: CodeProblem, text: str, *, expert: str, temperature: float, tokens: int,
              prompt_tokens: int, finish_reason: str, sample: int = 0, round_index: int = 0,
              mean_logprob: float | None = None) -> Candidate:
        """One reply as a candidate: its program, its evidence on the examples, its official verdict."""
        task = problem.task()
        program = read_program(problem.prompt, problem.entry_point, text, is_cut_off=finish_reason == "length")
        evidence = gather_evidence(program, task.examples, timeout_s=self.settings.timeout_s)
        return Candidate(expert=expert, sample=sample, round=round_index, temperature=temperature, text=text,
                         tokens=tokens, prompt_tokens=prompt_tokens, finish_reason=finish_reason,
                         mean_logprob=mean_logprob, program=program,
                         evidence=evidence, official=official_verdict(problem, program, timeout_s=self.settings.timeout_s))

    def _position(self, problem: CodeProblem, p: Position, temperature: float) -> Candidate:
        # positions carry no finish reason: a reply that used the whole token limit was cut off
        reason = "length" if p.tokens >= self.settings.max_tokens else "stop"
        return self.judge(problem, p.text, expert=p.expert, temperature=temperature, tokens=p.tokens,
                          prompt_tokens=p.prompt_tokens, finish_reason=reason, sample=p.sample, round_index=p.round,
                          mean_logprob=p.mean_logprob)

    # -- generation ----------------------------------------------------------------------------

    def ask(self, problem: CodeProblem, expert: str, *, temperature: float, seed: int, sample: int = 0,
            batch_group: str | None = None) -> Candidate:
        """One expert's reply to one problem, judged (an engine failure is a failed candidate).

        Replies asked at once under one `batch_group` decode as one batch (the scheduler's latency
        mode otherwise runs concurrent requests without a session one after another).
        """
        try:
            answer = self.mind.ask(code_prompt(problem), expert=expert, max_tokens=self.settings.max_tokens,
                                   seed=seed, temperature=temperature, batch_group=batch_group)
        except PER_PROBLEM_ERRORS as exc:
            return self.judge(problem, f"(failed: {exc})", expert=expert, temperature=temperature, tokens=0,
                              prompt_tokens=0, finish_reason="error", sample=sample)
        return self.judge(problem, answer.answer, expert=expert, temperature=temperature, tokens=answer.tokens,
                          prompt_tokens=answer.prompt_tokens, finish_reason=answer.finish_reason, sample=sample,
                          mean_logprob=answer.mean_logprob)

    def batched(self, jobs: Sequence[Callable[[], Candidate]]) -> list[Candidate]:
        """Run replies concurrently, `batch` at a time, so the engine decodes them as one batch."""
        with ThreadPoolExecutor(max_workers=self.settings.batch, thread_name_prefix="code-eval") as pool:
            return list(pool.map(lambda job: job(), jobs))

    def _sampled(self, problem: CodeProblem, expert: str, temperature: float, k: int, first: int = 0) -> list[Candidate]:
        """Samples first … first+k-1 (each sample's seed depends on its index alone: more samples extend a set)."""
        def job(i: int) -> Callable[[], Candidate]:
            seed = expert_seed(self.settings.seed, f"samples/{problem.task_id}/T{temperature}", i) or 0
            return lambda: self.ask(problem, expert, temperature=temperature, seed=seed, sample=i,
                                    batch_group=f"samples/{problem.task_id}/T{temperature}")
        return self.batched([job(i) for i in range(first, first + k)])

    def _method(self, method: str, problem: CodeProblem, temperature: float, work: Callable[[], MethodRun]) -> MethodRun:
        start = time.perf_counter()
        run = work()
        return run.model_copy(update={"seconds": round(time.perf_counter() - start, 2), "method": method,
                                      "task_id": problem.task_id, "temperature": temperature})

    def single(self, problem: CodeProblem, plan: CodePlan) -> MethodRun:
        """The best single expert, greedy."""
        def work() -> MethodRun:
            seed = expert_seed(self.settings.seed, plan.best_expert, 0) or 0
            c = self.ask(problem, plan.best_expert, temperature=0.0, seed=seed)
            return _method_run([c])
        return self._method("single", problem, 0.0, work)

    def samples(self, problem: CodeProblem, plan: CodePlan, method: str = "samples") -> MethodRun:
        """The best expert's k samples at the plan's temperature; `more-samples`: one more per persona after them."""
        k, first = (self.settings.samples, 0) if method == "samples" else (len(self.mind.config.expert_names),
                                                                         self.settings.samples)
        return self._method(method, problem, plan.temperature, lambda: _method_run(
            self._sampled(problem, plan.best_expert, plan.temperature, k, first)))

    def _personas(self, problem: CodeProblem, plan: CodePlan) -> MethodRun:
        names = missing_personas(plan, self.mind.config.expert_names)
        cs = self.batched([partial(self.ask, problem, n, temperature=0.0, seed=expert_seed(self.settings.seed, n, 0) or 0,
                                   batch_group=f"personas/{problem.task_id}") for n in names])
        return _method_run(cs)

    def _council_call(self, problem: CodeProblem, plan: CodePlan, temperature: float, strategy: Strategy) -> MethodRun:
        seed = expert_seed(self.settings.seed, f"council/{problem.task_id}", 0)
        try:
            if strategy == "debate":
                result = self.mind.debate(code_prompt(problem), experts=list(plan.council), rounds=self.settings.rounds,
                                          mode="parallel", seed=seed, max_tokens=self.settings.max_tokens,
                                          strategy="debate", selective=True, temperature=temperature)
            else:
                result = self.mind.consensus(code_prompt(problem), experts=list(plan.council), mode="parallel",
                                             seed=seed, max_tokens=self.settings.max_tokens, strategy=strategy,
                                             samples=self.settings.select_samples if strategy == "select" else None,
                                             temperature=temperature)
        except PER_PROBLEM_ERRORS as exc:
            return _method_run([], tokens=0, prompt_tokens=0, detail=f"failed: {exc}")
        return self._judge_council(problem, result, temperature)

    def _judge_council(self, problem: CodeProblem, result: DebateResult, temperature: float) -> MethodRun:
        first = [self._position(problem, p, temperature) for p in result.history[0].positions] if result.history else []
        later = [self._position(problem, p, temperature) for r in result.history[1:] for p in r.positions]
        final = self.judge(problem, result.answer, expert=result.synthesizer or "council", temperature=temperature,
                           tokens=0, prompt_tokens=0, finish_reason="stop", round_index=result.rounds)
        detail = f"{result.stop_reason}; agreement {result.agreement:.2f}"
        if result.debate_triggered is not None:
            detail += f"; revision {'ran' if result.debate_triggered else 'skipped'}: {result.trigger_reason}"
        return _method_run([*first, *later], tokens=result.tokens, prompt_tokens=result.prompt_tokens, final=final,
                           detail=detail)

    def run_method(self, method: str, problem: CodeProblem, plan: CodePlan,
                   earlier: dict[str, MethodRun] | None = None) -> MethodRun:
        """One generation method on one problem, judged (earlier: the problem's runs so far, for `probes`)."""
        if method == "probes":
            pools = {m: run for m in PROBE_POOLS
                     if (run := (earlier or {}).get(m) or (self.store.method(problem.task_id, m) if self.store else None))}
            return self._method("probes", problem, 0.0, lambda: run_probes(
                self.mind, CODE_TASK, problem, plan, pools, seed=self.settings.seed, timeout_s=self.settings.timeout_s))
        if method == "single":
            return self.single(problem, plan)
        if method == "personas-greedy":
            return self._method(method, problem, 0.0, lambda: self._personas(problem, plan))
        if method in ("samples", "more-samples"):
            return self.samples(problem, plan, method)
        temperature = 0.0 if method == "council-greedy" else plan.temperature
        strategy: Strategy = {"council-greedy": "vote", "council-sampled": "vote", "debate": "debate",
                              "select": "select"}[method]
        return self._method(method, problem, temperature,
                            lambda: self._council_call(problem, plan, temperature, strategy))

    # -- the pilot -----------------------------------------------------------------------------

    def _pilot_unit(self, problem: CodeProblem, unit: str, work: Callable[[], MethodRun]) -> MethodRun:
        kept = self.store.pilot(problem.task_id, unit) if self.store else None
        if kept is None:
            kept = work().model_copy(update={"method": unit, "task_id": problem.task_id})
            if self.store:
                self.store.save_pilot(problem.task_id, unit, kept)
        return kept

    def choose_expert(self, pilot: Sequence[CodeProblem]) -> tuple[str, str, list[PilotScore]]:
        """The persona that passes most pilot problems greedily (ties: fewer tokens, then name)."""
        if self.settings.best_expert:
            return self.settings.best_expert, "named with --best-expert", []
        scores = []
        for name in self.mind.config.expert_names:
            seed = expert_seed(self.settings.seed, name, 0) or 0

            def greedy(p: CodeProblem, name: str = name, seed: int = seed) -> MethodRun:
                return self._pilot_unit(p, f"greedy-{name}", lambda: _one(self.ask(p, name, temperature=0.0, seed=seed)))
            runs = _parallel([partial(greedy, p) for p in pilot], self.settings.batch)
            passed = sum(r.candidates[0].is_passed for r in runs)
            scores.append(PilotScore(name=name, passed=passed, n=len(pilot), tokens=sum(r.tokens for r in runs)))
            self._say(f"pilot: {name} greedy passes {passed}/{len(pilot)}")
        best = min(scores, key=lambda s: (-s.passed, s.tokens, s.name))
        return best.name, f"passed {best.passed}/{best.n} pilot problems greedily, the most of any persona", scores

    def choose_temperature(self, pilot: Sequence[CodeProblem], expert: str) -> tuple[float, str, list[PilotScore]]:
        """The temperature whose samples, chosen by execution on the examples, pass most pilot problems."""
        if self.settings.temperature is not None:
            return self.settings.temperature, "named with --temperature", []
        scores = []
        for t in self.settings.temperatures:
            def sampled(p: CodeProblem, t: float = t) -> MethodRun:
                return self._pilot_unit(p, f"samples-T{t}", lambda: _method_run(
                    self._sampled(p, expert, t, self.settings.pilot_samples), temperature=t))
            runs = [sampled(p) for p in pilot]
            chosen = [select_by_execution([c.evidence for c in r.candidates], [c.mean_logprob for c in r.candidates]).chosen
                      for r in runs]
            passed = sum(c is not None and r.candidates[c].is_passed for r, c in zip(runs, chosen, strict=True))
            mean = sum(sum(c.is_passed for c in r.candidates) / len(r.candidates) for r in runs) / max(len(runs), 1)
            scores.append(PilotScore(name=f"T={t}", passed=passed, n=len(pilot), tokens=sum(r.tokens for r in runs),
                                     mean_pass=round(mean, 4)))
            self._say(f"pilot: {expert} at T={t}: selected {passed}/{len(pilot)}, mean pass@1 {mean:.3f}")
        best = min(zip(scores, self.settings.temperatures, strict=True),
                   key=lambda st: (-st[0].passed, -(st[0].mean_pass or 0.0), st[1]))
        return best[1], (f"its execution-selected samples passed {best[0].passed}/{best[0].n} pilot problems "
                         f"(ties: higher mean pass@1, then the lower temperature)"), scores

    def choose_council(self, problems: Sequence[CodeProblem]) -> tuple[tuple[str, ...], str]:
        """--experts, or the council the router convenes most often for these prompts."""
        if self.settings.experts:
            return tuple(dict.fromkeys(self.settings.experts)), "chosen with --experts"
        picks = [self.mind.route(code_prompt(p), mode="parallel", is_council=True).selected for p in problems]
        members, count = most_common([frozenset(pick) for pick in picks])
        council = next(pick for pick in picks if frozenset(pick) == members)
        return council, f"the router convenes it for {count} of {len(problems)} problems"

    def plan(self, problems: list[CodeProblem]) -> tuple[CodePlan, list[CodeProblem]]:
        """The saved plan, or a new one (the pilot runs here); and the scored problems."""
        pilot, scored = split_pilot(problems, self.settings.pilot_n, self.settings.seed)
        if self.settings.limit:
            scored = scored[:self.settings.limit]
        saved = self.store.plan(self.settings) if self.store else None
        if saved is not None:
            self._say(f"resuming: council {', '.join(saved.council)}, best expert {saved.best_expert}, "
                      f"T={saved.temperature}")
            return saved, scored
        started_at, start = _now(), time.perf_counter()
        council, council_reason = self.choose_council(scored)
        expert, expert_reason, expert_scores = self.choose_expert(pilot)
        temperature, t_reason, t_scores = self.choose_temperature(pilot, expert)
        used = dict.fromkeys([expert, *council])
        plan = CodePlan(settings=self.settings, pilot_ids=tuple(p.task_id for p in pilot),
                        scored_ids=tuple(p.task_id for p in scored), council=council, council_reason=council_reason,
                        best_expert=expert, expert_reason=expert_reason, temperature=temperature,
                        temperature_reason=t_reason, pilot=(*expert_scores, *t_scores),
                        pilot_seconds=round(time.perf_counter() - start, 1),
                        models={n: self.mind.config.expert(n).model for n in used}, machine=cpu_label(),
                        started_at=started_at)
        self._say(f"council: {', '.join(council)} ({council_reason}); best expert: {expert} ({expert_reason}); "
                  f"T={temperature} ({t_reason})")
        if self.store:
            self.store.save_plan(plan)
        return plan, scored

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> CodeRun:
        """Every asked method on every scored problem (skipping what is kept), then the run as far as it got.

        Problems another process holds (store.py) are passed over and come back once it lets them go.
        """
        problems = load_humaneval()
        part = WorkPart(index=0, started_at=_now(), machine=cpu_label(), seconds=0.0, units=0, source=source_version())
        clock = time.perf_counter()
        with self.store.plan_lock() if self.store else nullcontext():
            plan, scored = self.plan(problems)
        if self.store:  # a stretch that finds nothing left to do is a stretch too: the record says it resumed
            part = self.store.record_part(part)
        results: dict[str, dict[str, MethodRun]] = {p.task_id: {} for p in scored}
        total, done = len(scored) * len(self.methods), 0
        waiting, told = list(scored), set()
        while waiting:
            held = []
            for problem in waiting:
                with self.store.claim(problem.task_id) if self.store else nullcontext(True) as mine:
                    if not mine:
                        held.append(problem)
                        if problem.task_id not in told:
                            told.add(problem.task_id)
                            self._say(f"{problem.task_id}: another process is working on it; back to it later")
                        continue
                    for method in self.methods:
                        kept = self.store.method(problem.task_id, method) if self.store else None
                        if kept is None:
                            kept = self.run_method(method, problem, plan, results[problem.task_id])
                            if self.store:
                                self.store.save_method(problem.task_id, kept)
                                part = self.store.record_part(part.model_copy(update={
                                    "seconds": round(time.perf_counter() - clock, 1), "units": part.units + 1}))
                            self._say(_progress_line(problem.task_id, kept))
                        results[problem.task_id][method] = kept
                        done += 1
                        self._advance(done, total)
            if len(held) == len(waiting):  # every problem left is another process's for now
                time.sleep(self.poll_s)
            waiting = held
        part = part.model_copy(update={"seconds": round(time.perf_counter() - clock, 1)})
        if self.store:
            part = self.store.record_part(part)
        parts = self.store.parts() if self.store else [part]
        return CodeRun(plan=plan, problems=results, parts=tuple(parts),
                       pilot_greedy=self.store.pilot_greedy(plan) if self.store else {})


def _method_run(candidates: Sequence[Candidate], *, tokens: int | None = None, prompt_tokens: int | None = None,
                final: Candidate | None = None, detail: str = "", temperature: float = 0.0) -> MethodRun:
    # method, task_id, temperature and seconds are filled in by the caller; tokens default to the candidates' own
    return MethodRun(method="", task_id="", temperature=temperature, candidates=tuple(candidates), final=final,
                     tokens=sum(c.tokens for c in candidates) if tokens is None else tokens,
                     prompt_tokens=sum(c.prompt_tokens for c in candidates) if prompt_tokens is None else prompt_tokens,
                     seconds=0.0, detail=detail)


def _one(candidate: Candidate) -> MethodRun:
    return _method_run([candidate], tokens=candidate.tokens, prompt_tokens=candidate.prompt_tokens)


def _parallel(jobs: Sequence[Callable[[], MethodRun]], workers: int) -> list[MethodRun]:
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="code-pilot") as pool:
        return list(pool.map(lambda job: job(), jobs))


def _progress_line(task_id: str, run: MethodRun) -> str:
    if run.method == "probes":
        return f"{task_id} probes: {run.detail} · {run.tokens} tokens · {run.seconds:.0f} s"
    passed = sum(c.is_passed for c in run.candidates)
    final = f" · final {'✓' if run.final.is_passed else '✗'}" if run.final else ""
    cut = sum(c.program.is_cut_off for c in run.candidates)
    return (f"{task_id} {run.method}: {passed}/{len(run.candidates)} candidates pass{final}"
            f"{f' · {cut} cut off' if cut else ''} · {run.tokens} tokens · {run.seconds:.0f} s")
