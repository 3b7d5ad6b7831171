"""Fault injection at LiveMind's seams: loaders that fail on a later load, engines that stall, memory that runs out.

These wrap tests.support.fakes; tests.support.minds.open_mind opens a LiveMind over them. The product
code above the seams (pool, RAM guard, runner, graph, orchestrator, session store) is the real one in
every test that uses them.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from livemind.config import LiveMindConfig, parse_config
from livemind.engine.backends.base import CancelSignal, LoadTarget, TokenCallback
from livemind.engine.catalog import ModelCatalog
from livemind.engine.ram import MemoryReading
from livemind.errors import ModelCorruptError
from livemind.types import Completion, GenerationRequest
from tests.support.fakes import Script, ScriptedBackend, ScriptedLoader
from tests.support.minds import answer_round, speaker

MiB = 2**20
EXPERTS = ("alpha", "beta", "gamma")
STALL_TOKEN_S = 0.01


persona_of = speaker  # which expert a request is for
round_of = answer_round  # 0 for a first answer, n for the n-th revision


def fault_config(home: Path, *, separate_models: bool = True, pool: dict[str, Any] | None = None,
                 **debate: Any) -> LiveMindConfig:
    """alpha, beta, gamma: each on its own model file (a.gguf, b.gguf, c.gguf) or all on one."""
    models = home / "models"
    models.mkdir(parents=True, exist_ok=True)
    for letter in "abc":
        (models / f"{letter}.gguf").write_bytes(b"GGUF")
    doc = {
        "experts": [{"name": name, "model": str(models / (f"{'abc'[i]}.gguf" if separate_models else "a.gguf")),
                     "persona": f"You are {name}.", "description": f"{name} topics",
                     "examples": [f"a question about {name}"]} for i, name in enumerate(EXPERTS)],
        "router": {"fallback": "alpha", "top_k": 3},
        "debate": {"synthesizer": "alpha", "max_rounds": 2, "agreement_threshold": 0.95, **debate},
        "pool": pool or {},
    }
    return parse_config(doc, ModelCatalog(home), check_files=False)


class FlakyLoader(ScriptedLoader):
    """Loads fine until `fail_from` loads of a model have happened; then every load of it fails."""

    def __init__(self, script: Script, *, fail_from: dict[str, int], sizes: dict[str, int] | None = None) -> None:
        super().__init__(script, sizes=sizes)
        self.fail_from = fail_from
        self.loads: Counter[str] = Counter()

    def load(self, target: LoadTarget) -> ScriptedBackend:
        self.loads[target.model] += 1
        if self.loads[target.model] > self.fail_from.get(target.model, 10**9):
            raise ModelCorruptError(f"llama.cpp could not load /models/{target.model}.gguf (the file changed on disk)",
                                    hint="the file is truncated or corrupt; re-download it")
        return super().load(target)


class StallingBackend(ScriptedBackend):
    """Generates like ScriptedBackend, except that `stalls(request)` requests ramble until cancelled."""

    def __init__(self, target: LoadTarget, script: Script, stalls: Callable[[GenerationRequest], bool]) -> None:
        super().__init__(target, script)
        self._stalls = stalls

    def generate(self, request: GenerationRequest, *, on_token: TokenCallback | None = None,
                 cancel: CancelSignal | None = None) -> Completion:
        if not self._stalls(request):
            return super().generate(request, on_token=on_token, cancel=cancel)
        started = time.perf_counter()
        produced = 0
        # a model that never stops: one token per STALL_TOKEN_S until the runner cancels it (bounded)
        while not (cancel is not None and cancel.is_set()) and time.perf_counter() - started < 120:
            time.sleep(STALL_TOKEN_S)  # simulated decode time of one token
            produced += 1
            if on_token is not None:
                on_token(" more")
        return Completion(text=" more" * produced, prompt_tokens=1, completion_tokens=produced, ttft_s=STALL_TOKEN_S,
                          total_s=time.perf_counter() - started, decode_tok_s=1 / STALL_TOKEN_S,
                          finish_reason="cancelled")


class StallingLoader(ScriptedLoader):
    """Loads StallingBackends."""

    def __init__(self, script: Script, stalls: Callable[[GenerationRequest], bool]) -> None:
        super().__init__(script)
        self._stalls = stalls

    def load(self, target: LoadTarget) -> StallingBackend:
        backend = StallingBackend(target, self.script, self._stalls)
        self.loaded.append(backend)
        return backend


class MemoryMeter:
    """A machine whose used memory is a base, plus the pool's models, plus whatever `pressure` other processes add."""

    def __init__(self, *, total: int, base: int) -> None:
        self.total = total
        self.base = base
        self.pressure = 0
        self.pool_bytes: Callable[[], int] = lambda: 0
        self.peak_used = 0
        self._lock = threading.Lock()

    def read(self) -> MemoryReading:
        used = self.base + self.pool_bytes() + self.pressure
        with self._lock:
            self.peak_used = max(self.peak_used, used)
        return MemoryReading(total=self.total, used=used, available=self.total - used, source="test")
