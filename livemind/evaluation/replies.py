"""How the eval asks one expert for one reply: greedy, at its council temperature, or as a self-consistency sample.

Every reply is `LiveMind.ask` with the expert named, the temperature set and a seed derived from
the run's seed and the question, so a run is reproducible; replies of one model are asked for
concurrently (`batched`), so the engine decodes them as one batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from livemind.council.prompts import expert_seed
from livemind.errors import EngineError, PromptTooLongError, RemoteExpertError
from livemind.evaluation.judging import failed_attempt, judged
from livemind.evaluation.results import Attempt, EvalSettings
from livemind.evaluation.tasks import Problem
from livemind.evaluation.temperature import sampling_temperature
from livemind.orchestrator import LiveMind

PER_QUESTION_ERRORS = (EngineError, PromptTooLongError, RemoteExpertError)
"""Failures that cost one question its answer (recorded as wrong) rather than ending the eval."""


class Replies:
    """One run's way of asking for replies (its settings, seeds, and self-consistency's temperature)."""

    def __init__(self, mind: LiveMind, settings: EvalSettings) -> None:
        self.mind = mind
        self.settings = settings
        # self-consistency's temperature: the plan sets it (chosen on the pilot when the settings leave it open)
        self.sc_temperature = sampling_temperature(None, settings.sc_temperature)

    def _reply(self, name: str, problem: Problem, *, temperature: float, seed: int) -> Attempt:
        start = time.perf_counter()
        try:
            answer = self.mind.ask(problem.prompt, expert=name, max_tokens=self.settings.max_tokens, seed=seed,
                                   temperature=temperature)
        except PER_QUESTION_ERRORS as exc:
            return failed_attempt(exc, time.perf_counter() - start)
        return judged(answer.answer, answer.tokens, time.perf_counter() - start, self.settings.extraction,
                       prompt_tokens=answer.prompt_tokens, was_cut_off=answer.finish_reason == "length",
                       prompt_length=answer.prompt_tokens + answer.cached_prompt_tokens)

    def greedy(self, name: str, problem: Problem) -> Attempt:
        """One expert's answer at temperature 0."""
        return self._reply(name, problem, temperature=0.0, seed=expert_seed(self.settings.seed, name, 0) or 0)

    def sample(self, name: str, problem: Problem, index: int, temperature: float | None = None) -> Attempt:
        """The index-th self-consistency sample of one expert on one problem (seeded, reproducible)."""
        seed = expert_seed(self.settings.seed, f"self-consistency/{problem.id}", index) or 0
        return self._reply(name, problem, temperature=self.sc_temperature if temperature is None else temperature,
                           seed=seed)

    def council_temperature(self, name: str) -> float:
        """The temperature an expert answers at as a council member in this run."""
        t = self.settings.council_temperature
        return t if t is not None else self.mind.config.expert(name).sampling.temperature

    def sampled(self, name: str, problem: Problem) -> Attempt:
        """One reply of an expert at its council temperature: the single expert as the council samples it."""
        seed = expert_seed(self.settings.seed, f"single-sampled/{problem.id}", 0) or 0
        return self._reply(name, problem, temperature=self.council_temperature(name), seed=seed)

    def batched(self, work: Sequence[Callable[[], Attempt]]) -> list[Attempt]:
        """Run replies of one model concurrently, `batch` at a time, so the engine decodes them together.

        Each reply's seconds is its batch's wall time shared out, so the seconds add up to wall time.
        """
        results: list[Attempt] = []
        with ThreadPoolExecutor(max_workers=self.settings.batch, thread_name_prefix="eval-batch") as pool:
            for at in range(0, len(work), self.settings.batch):
                chunk = work[at:at + self.settings.batch]
                start = time.perf_counter()
                done = list(pool.map(lambda job: job(), chunk))
                share = round((time.perf_counter() - start) / len(done), 3)
                results.extend(a.model_copy(update={"seconds": share}) for a in done)
        return results
