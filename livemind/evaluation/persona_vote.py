"""The greedy persona study: every persona answers every question greedily, once; votes are counted after.

Issue 28 asks whether a vote of the council's personas, each answering at temperature 0 and
weighted by the engine's own confidence, beats the best single persona answering greedily. A
greedy reply depends only on the persona and the question, so each persona answers each
question once and every vote of any subset of personas is counted from those same replies.
That makes the comparison like with like: the single expert's reply *is* its vote in the
council, read by the same rule, in the same run.

Everything chosen is chosen on held-out pilot questions of the same task and seed, never on the
scored ones: the best single persona (most right; ties to the router's pick), and the
*measured* council, the subset of personas whose weighted vote is right most often on the pilot
(ties to the smaller subset, then the higher summed single accuracy, then configuration order).

The answers of one question are asked for together (`batch` at a time), so the engine decodes
them as one batch, as a user's council would. Each question is saved as it finishes and a run
resumes where it stopped.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import Field

from livemind.council.extraction import ExtractionRule
from livemind.council.prompts import expert_seed
from livemind.council.strategies import count_votes
from livemind.errors import InvalidRequestError, UnknownExpertError
from livemind.evaluation.reading import is_cut_off, read_reply
from livemind.evaluation.results import PilotScore
from livemind.evaluation.runner import PER_QUESTION_ERRORS
from livemind.evaluation.selection import choose_best_expert, most_common
from livemind.evaluation.store import read_value, refuse_other_settings, write_value
from livemind.evaluation.tasks import TASKS, Problem, generate_problems, held_out_problems
from livemind.orchestrator import LiveMind
from livemind.types import Value

Progress = Callable[[str], None]
Advance = Callable[[int, int], None]
MIN_COUNCIL = 2


class PersonaVoteSettings(Value):
    """What the study runs: task, size, seed, pilot, token cap, and the personas asked."""

    task: str = "arithmetic"
    n: int = Field(30, ge=1, le=10_000)
    seed: int = 0
    pilot_n: int = Field(10, ge=1, le=200)
    max_tokens: int = Field(300, ge=8, le=4096)
    experts: tuple[str, ...] | None = None  # None: every configured persona
    extraction: ExtractionRule = "lenient"
    batch: int = Field(4, ge=1, le=64)


class PersonaReply(Value):
    """One persona's greedy reply to one question, as read by the eval's one rule."""

    expert: str
    text: str
    extracted: int | None
    is_correct: bool
    tokens: int
    prompt_tokens: int
    mean_logprob: float | None
    is_cut_off: bool
    seconds: float
    failure: str | None = None


class PersonaQuestion(Value):
    """Every persona's reply to one question."""

    problem: Problem
    replies: tuple[PersonaReply, ...]
    seconds: float

    def reply(self, expert: str) -> PersonaReply:
        """The named persona's reply."""
        return next(r for r in self.replies if r.expert == expert)


class PersonaPlan(Value):
    """What was chosen before the scored questions ran, and how."""

    settings: PersonaVoteSettings
    experts: tuple[str, ...]
    router_council: tuple[str, ...]
    router_reason: str
    best_expert: str
    best_reason: str
    measured_council: tuple[str, ...]
    measured_reason: str
    pilot: tuple[PersonaQuestion, ...]
    model: str
    started_at: str


class Vote(Value):
    """A council's vote on one question: its answer, weighted share, and whether it split."""

    winner: int | None
    share: float
    is_split: bool
    tokens: int


def vote_of(question: PersonaQuestion, council: Sequence[str], *, weighted: bool) -> Vote:
    """The council's vote of its personas' replies: weighted by exp(mean_logprob), or counted."""
    replies = [question.reply(name) for name in council]
    values = [r.extracted for r in replies]
    tally = count_votes(values, [r.mean_logprob for r in replies] if weighted else None)
    return Vote(winner=tally.winner, share=round(tally.share, 4), is_split=tally.is_split,
                tokens=sum(r.tokens for r in replies))


def measured_council(pilot: Sequence[PersonaQuestion], experts: Sequence[str]) -> tuple[tuple[str, ...], str]:
    """The subset of two or more personas whose weighted vote is right most often on the pilot."""
    single = {name: sum(q.reply(name).is_correct for q in pilot) for name in experts}
    best: tuple[tuple[int, int, int], tuple[str, ...]] | None = None
    for size in range(MIN_COUNCIL, len(experts) + 1):
        for subset in itertools.combinations(experts, size):
            right = sum(vote_of(q, subset, weighted=True).winner == q.problem.answer for q in pilot)
            key = (right, -size, sum(single[n] for n in subset))
            if best is None or key > best[0]:
                best = (key, subset)
    if best is None:
        raise InvalidRequestError("a council needs at least two personas", hint="pass two or more names to --experts")
    (right, _, _), subset = best
    return subset, (f"its weighted vote is right on {right} of {len(pilot)} held-out pilot questions, the most of "
                    f"any subset of two or more (ties: fewer personas, then more right alone)")


class PersonaVoteRunner:
    """Asks every persona every question greedily and keeps the replies (resumable)."""

    def __init__(self, mind: LiveMind, settings: PersonaVoteSettings, out: Path, *,
                 on_progress: Progress = lambda _: None, on_advance: Advance = lambda *_: None) -> None:
        self.mind, self.settings, self.out = mind, settings, out
        self._say, self._advance = on_progress, on_advance
        names = mind.config.expert_names
        if settings.task not in TASKS:
            raise InvalidRequestError(f"unknown task '{settings.task}'", hint=f"use one of: {', '.join(TASKS)}")
        for name in settings.experts or ():
            if name not in names:
                raise UnknownExpertError(name, names)
        self.experts = tuple(dict.fromkeys(settings.experts or names))
        if len(self.experts) < MIN_COUNCIL:
            raise InvalidRequestError("the study needs at least two personas", hint="pass two or more names to --experts")

    def _reply(self, name: str, problem: Problem) -> PersonaReply:
        s = self.settings
        start = time.perf_counter()
        try:
            answer = self.mind.ask(problem.prompt, expert=name, max_tokens=s.max_tokens, temperature=0.0,
                                   seed=expert_seed(s.seed, name, 0) or 0, batch_group=f"personas/{problem.id}")
        except PER_QUESTION_ERRORS as exc:
            return PersonaReply(expert=name, text="", extracted=None, is_correct=False, tokens=0, prompt_tokens=0,
                                mean_logprob=None, is_cut_off=False, seconds=round(time.perf_counter() - start, 3),
                                failure=f"{type(exc).__name__}: {exc}")
        cut = answer.finish_reason == "length" or is_cut_off(answer.tokens, s.max_tokens)
        read = read_reply(answer.answer, s.extraction, is_cut_off=cut)
        return PersonaReply(expert=name, text=answer.answer, extracted=read.value, is_correct=read.value == problem.answer,
                            tokens=answer.tokens, prompt_tokens=answer.prompt_tokens, mean_logprob=answer.mean_logprob,
                            is_cut_off=cut, seconds=round(time.perf_counter() - start, 3))

    def question(self, problem: Problem) -> PersonaQuestion:
        """Every persona's greedy reply to one question, `batch` asked at once."""
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=self.settings.batch, thread_name_prefix="persona-vote") as pool:
            replies = tuple(pool.map(lambda name: self._reply(name, problem), self.experts))
        return PersonaQuestion(problem=problem, replies=replies, seconds=round(time.perf_counter() - start, 2))

    def _plan(self, test: list[Problem]) -> PersonaPlan:
        saved = read_value(self.out / "run" / "plan.json", PersonaPlan)
        if saved is not None:
            refuse_other_settings(saved.settings, self.settings, f"the study in {self.out}",
                                  hint="run it again with the same flags, or pass another --out")
            self._say(f"resuming: best single {saved.best_expert}, measured council {', '.join(saved.measured_council)}")
            return saved
        s = self.settings
        picks = [self.mind.route(p.prompt, mode="parallel", is_council=True).selected for p in test]
        members, count = most_common([frozenset(pick) for pick in picks])
        router_council = next(tuple(pick) for pick in picks if frozenset(pick) == members)
        singles = [self.mind.route(p.prompt, mode="single").selected[0] for p in test]
        router_pick, pick_count = most_common(singles)
        started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        pilot = []
        for index, problem in enumerate(held_out_problems(s.task, s.pilot_n, s.seed, test)):
            pilot.append(self.question(problem))
            self._say(f"pilot {index + 1}/{s.pilot_n}: " + ", ".join(
                f"{r.expert} {'✓' if r.is_correct else '✗'}" for r in pilot[-1].replies))
        scores = [PilotScore(expert=name, correct=sum(q.reply(name).is_correct for q in pilot), n=len(pilot),
                             tokens=sum(q.reply(name).tokens for q in pilot)) for name in self.experts]
        choice = choose_best_expert(scores, router_pick, f"{pick_count} of the {len(test)} questions")
        council, reason = measured_council(pilot, self.experts)
        plan = PersonaPlan(settings=s, experts=self.experts, router_council=router_council,
                           router_reason=f"the router convenes it for {count} of {len(test)} questions",
                           best_expert=choice.expert, best_reason=choice.reason, measured_council=council,
                           measured_reason=reason, pilot=tuple(pilot), model=self._model_names(), started_at=started_at)
        write_value(self.out / "run" / "plan.json", plan)
        return plan

    def _model_names(self) -> str:
        return ", ".join(sorted({self.mind.config.expert(name).model for name in self.experts}))

    def run(self) -> tuple[PersonaPlan, list[PersonaQuestion]]:
        """The plan and every scored question, generating only what is not saved yet."""
        s = self.settings
        test = generate_problems(s.task, s.n, s.seed)
        plan = self._plan(test)
        done: list[PersonaQuestion] = []
        for index, problem in enumerate(test):
            path = self.out / "run" / "questions" / f"{index:03d}.json"
            kept = read_value(path, PersonaQuestion)
            if kept is None or kept.problem != problem:
                kept = self.question(problem)
                write_value(path, kept)
                right = [r.expert for r in kept.replies if r.is_correct]
                self._say(f"{problem.id}: right {', '.join(right) or 'none'} · {kept.seconds:.0f} s")
            done.append(kept)
            self._advance(index + 1, len(test))
        return plan, done
