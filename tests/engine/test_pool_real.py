"""The pool with real models: eviction under a small budget, refusal, corrupt files, measured RSS."""

from __future__ import annotations

import shutil
from pathlib import Path

import psutil
import pytest

from livemind.engine.backends.base import LoadTarget
from livemind.engine.backends.llama_cpp import LlamaCppLoader
from livemind.engine.catalog import ModelCatalog
from livemind.engine.pool import ModelPool
from livemind.engine.ram import RamGuard
from livemind.errors import ModelCorruptError, RamBudgetExceeded
from livemind.types import ChatMessage, EngineSettings, GenerationRequest, SamplingSettings

pytestmark = pytest.mark.slow
MiB = 2**20


def _target(catalog: ModelCatalog, name: str) -> LoadTarget:
    resolved = catalog.resolve(name)
    return LoadTarget(model=name, path=resolved.path, engine=EngineSettings(n_ctx=1024), chat_format=resolved.chat_format)


def _hello(max_tokens: int = 8) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage(role="user", content="Say hello."),),
                             sampling=SamplingSettings(temperature=0.0, max_tokens=max_tokens))


def test_small_budget_evicts_one_real_model_to_load_the_other(catalog: ModelCatalog) -> None:
    loader = LlamaCppLoader()
    smol, gemma = _target(catalog, "smollm2-135m"), _target(catalog, "gemma3-270m")
    sizes = loader.estimate(smol).total, loader.estimate(gemma).total
    budget = max(sizes) + min(sizes) // 2  # room for either model, never both
    pool = ModelPool(loader, RamGuard(budget_bytes=budget), max_warm=2)
    process = psutil.Process()
    baseline = process.memory_info().rss
    peak_growth = 0
    try:
        for target in (smol, gemma, smol):
            with pool.lease(target) as backend:
                assert backend.generate(_hello()).completion_tokens > 0
                peak_growth = max(peak_growth, process.memory_info().rss - baseline)
                assert pool.pool_bytes() <= budget
        kinds = [(e.kind, e.model) for e in pool.events]
        assert ("evict", "smollm2-135m") in kinds and ("evict", "gemma3-270m") in kinds
        assert pool.max_loaded_at_once == 1
        assert pool.peak_pool_bytes <= budget
        # the estimate is what keeps us under budget: real growth must not exceed it
        assert peak_growth <= budget, f"RSS grew {peak_growth / MiB:.0f} MiB, budget {budget / MiB:.0f} MiB"
    finally:
        pool.unload_all()


def test_guard_refuses_with_numbers_when_the_busy_model_cannot_be_evicted(catalog: ModelCatalog) -> None:
    loader = LlamaCppLoader()
    smol, gemma = _target(catalog, "smollm2-135m"), _target(catalog, "gemma3-270m")
    budget = loader.estimate(gemma).total + 10 * MiB
    pool = ModelPool(loader, RamGuard(budget_bytes=budget), max_warm=2)
    try:
        with pool.lease(smol), pytest.raises(RamBudgetExceeded) as info:
            pool._acquire(gemma)
        err = info.value
        assert err.needed == loader.estimate(gemma).total
        assert err.limit == budget and err.available < err.needed
        assert "MiB" in str(err) and "mode=turns" in err.hint
        assert pool.loaded_models() == ["smollm2-135m"]
    finally:
        pool.unload_all()


def test_corrupt_model_fails_clearly_and_the_pool_keeps_serving(tmp_path: Path, catalog: ModelCatalog) -> None:
    good = _target(catalog, "smollm2-135m")
    bad_file = tmp_path / "half.gguf"
    with good.path.open("rb") as src, bad_file.open("wb") as dst:  # type: ignore[union-attr]
        dst.write(src.read(good.path.stat().st_size // 2))  # type: ignore[union-attr]
    bad = LoadTarget(model="half", path=bad_file, engine=EngineSettings(n_ctx=1024))
    pool = ModelPool(LlamaCppLoader(), RamGuard(), max_warm=2)
    try:
        with pool.lease(good) as backend:
            backend.generate(_hello(4))
        with pytest.raises(ModelCorruptError, match=r"half\.gguf"):
            pool._acquire(bad)
        with pool.lease(good) as backend:
            assert backend.generate(_hello(4)).completion_tokens > 0
        assert [e.kind for e in pool.events] == ["load", "load_failed"]
    finally:
        pool.unload_all()
        shutil.rmtree(tmp_path, ignore_errors=True)
