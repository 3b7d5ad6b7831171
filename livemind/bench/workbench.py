"""What every bench measurement shares: options, the configuration, experts and fresh runners."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from livemind.bench.prompts import PROMPTS, seed_for
from livemind.config import LiveMindConfig
from livemind.council.prompts import first_answer_messages
from livemind.engine.backends.base import BackendLoader, LoadTarget
from livemind.engine.backends.factory import default_loader
from livemind.engine.catalog import ModelCatalog
from livemind.engine.pool import ModelPool
from livemind.engine.ram import RamGuard
from livemind.engine.runner import ExpertRunner
from livemind.engine.scheduler import ScheduleMode
from livemind.types import ChatMessage, Completion, EngineSettings, ExpertSpec


@dataclass(frozen=True)
class BenchOptions:
    """How much to measure: `quick` keeps the whole run under about a minute on 2 cores."""

    out: Path
    quick: bool = False
    runs: int = 5
    max_tokens: int = 96
    prompts: int = 5
    http: bool = True
    server_timeout_s: float = 120.0
    only: tuple[str, ...] = ()  # measure just these sections (empty: all)
    restart: bool = False  # drop an unfinished run kept in `out` instead of resuming it

    @classmethod
    def for_mode(cls, out: Path, *, quick: bool, http: bool = True) -> BenchOptions:
        """The quick or the full set of sizes."""
        if quick:
            return cls(out=out, quick=True, runs=2, max_tokens=24, prompts=1, http=http, server_timeout_s=60.0)
        return cls(out=out, quick=False, http=http)


@dataclass
class Workbench:
    """Shared state of one bench run."""

    options: BenchOptions
    config: LiveMindConfig
    catalog: ModelCatalog
    home: Path
    config_path: Path | None
    scratch: Path
    log: Callable[[str], None]

    @property
    def prompts(self) -> tuple[str, ...]:
        """The prompts this run uses."""
        return PROMPTS[: self.options.prompts]

    def spec(self, name: str, **engine: object) -> ExpertSpec:
        """An expert from the configuration, with engine settings overridden."""
        spec = self.config.expert(name)
        if not engine:
            return spec
        return spec.model_copy(update={"engine": spec.engine.model_copy(update=engine)})

    def runner(self, loader: BackendLoader | None = None, *, mode: ScheduleMode = "latency") -> ExpertRunner:
        """A fresh runner over a fresh pool (nothing loaded yet)."""
        pool = ModelPool(loader or default_loader(), RamGuard(), max_warm=4, idle_ttl_s=3600)
        return ExpertRunner(pool, self.catalog, mode=mode)

    def target(self, spec: ExpertSpec) -> LoadTarget:
        """The load target of an expert."""
        resolved = self.catalog.resolve(spec.model)
        return LoadTarget(model=resolved.name, path=resolved.path, engine=spec.engine, chat_format=resolved.chat_format)

    def messages(self, spec: ExpertSpec, prompt_index: int) -> list[ChatMessage]:
        """The first-answer messages of an expert for one prompt, exactly as the graph builds them."""
        return first_answer_messages(spec, self.prompts[prompt_index % len(self.prompts)])

    def seed(self, prompt_index: int, expert: str) -> int:
        """The fixed seed of one (prompt, expert) pair."""
        return seed_for(prompt_index % len(self.prompts), expert)


@dataclass(frozen=True)
class RoundTiming:
    """Several experts answering at once: the wall time and each completion."""

    wall_s: float
    completions: tuple[Completion, ...]

    @property
    def tokens(self) -> int:
        """Generated tokens of all experts."""
        return sum(c.completion_tokens for c in self.completions)


def concurrent_round(runner: ExpertRunner, specs: Sequence[ExpertSpec], bench: Workbench, prompt_index: int,
                     *, session: str) -> RoundTiming:
    """Every expert answers in its own thread at once, as the graph's parallel branches do."""
    results: dict[int, Completion] = {}
    errors: list[BaseException] = []

    def answer(i: int, spec: ExpertSpec) -> None:
        try:
            results[i] = runner.generate(spec, bench.messages(spec, prompt_index), seed=bench.seed(prompt_index, spec.name),
                                         max_tokens=bench.options.max_tokens, conversation=f"{session}:{spec.name}",
                                         batch_group=session)
        except BaseException as exc:  # re-raised in the calling thread below
            errors.append(exc)

    threads = [threading.Thread(target=answer, args=(i, s), name=f"bench-{s.name}") for i, s in enumerate(specs)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise errors[0]
    return RoundTiming(wall, tuple(results[i] for i in range(len(specs))))


def sequential_round(runner: ExpertRunner, specs: Sequence[ExpertSpec], bench: Workbench, prompt_index: int) -> RoundTiming:
    """The experts answer one after another."""
    start = time.perf_counter()
    completions = tuple(runner.generate(s, bench.messages(s, prompt_index), seed=bench.seed(prompt_index, s.name),
                                        max_tokens=bench.options.max_tokens) for s in specs)
    return RoundTiming(time.perf_counter() - start, completions)


def engine_label(engine: EngineSettings) -> str:
    """A short description of engine settings for the report."""
    threads = engine.n_threads or "all"
    return (f"kv {engine.kv_type}, flash-attn {'on' if engine.flash_attn else 'off'}, threads {threads}, "
            f"batch {engine.n_batch}/{engine.n_ubatch}, {engine.n_seq_max} seq")
