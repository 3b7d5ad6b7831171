"""Model pool with scripted backends: lazy loads, warm cap, LRU eviction, TTL, locks, refusals."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from livemind.engine.backends.base import LoadTarget, MemoryEstimate
from livemind.engine.pool import EVENT_LOG_SIZE, ModelPool
from livemind.engine.ram import MemoryReading, RamGuard
from livemind.errors import ModelCorruptError, RamBudgetExceeded
from livemind.types import EngineSettings
from tests.support.fakes import ScriptedBackend, ScriptedLoader

MiB = 2**20


def target(name: str) -> LoadTarget:
    return LoadTarget(model=name, path=Path(f"/models/{name}.gguf"), engine=EngineSettings())


def guard(budget: int | None = None) -> RamGuard:
    return RamGuard(budget_bytes=budget, reader=lambda: MemoryReading(64 * 2**30, 1 * 2**30, 63 * 2**30, "test"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_models_load_lazily_on_first_lease() -> None:
    loader = ScriptedLoader()
    pool = ModelPool(loader, guard())
    assert loader.loaded == []
    with pool.lease(target("a")):
        pass
    assert [b.target.model for b in loader.loaded] == ["a"]
    with pool.lease(target("a")):
        pass
    assert len(loader.loaded) == 1, "a warm model is reused, not reloaded"


def test_warm_set_is_capped_and_evicts_least_recently_used() -> None:
    loader = ScriptedLoader()
    pool = ModelPool(loader, guard(), max_warm=2)
    for name in ("a", "b", "a", "c"):
        with pool.lease(target(name)):
            pass
    assert sorted(pool.loaded_models()) == ["a", "c"]
    evictions = [e for e in pool.events if e.kind == "evict"]
    assert [e.model for e in evictions] == ["b"]
    assert loader.loaded[1].closed


def test_eviction_never_hits_a_model_that_is_generating() -> None:
    loader = ScriptedLoader(sizes={"a": 300 * MiB, "b": 300 * MiB})
    pool = ModelPool(loader, guard(budget=500 * MiB), max_warm=2)
    with pool.lease(target("a")), pytest.raises(RamBudgetExceeded) as info:
        pool._acquire(target("b"))
    assert "a" in pool.loaded_models()
    err = info.value
    assert err.needed == 300 * MiB and err.available == 200 * MiB and err.limit == 500 * MiB
    assert "mode=turns" in err.hint
    assert [e.kind for e in pool.events] == ["load", "refuse"]


def test_a_model_bigger_than_the_whole_budget_is_refused_as_permanent() -> None:
    loader = ScriptedLoader(sizes={"a": 100 * MiB, "huge": 600 * MiB, "b": 450 * MiB})
    pool = ModelPool(loader, guard(budget=500 * MiB), max_warm=2)
    with pool.lease(target("a")):
        pass
    with pytest.raises(RamBudgetExceeded) as never:
        pool._acquire(target("huge"))
    assert never.value.permanent and "retrying will not help" in never.value.message
    assert "above 600 MiB" in never.value.hint
    assert pool.loaded_models() == ["a"], "a load that can never fit evicts nothing"
    with pool.lease(target("a")), pytest.raises(RamBudgetExceeded) as later:
        pool._acquire(target("b"))  # fits once "a" is idle: temporary
    assert not later.value.permanent and "mode=turns" in later.value.hint


def test_small_budget_evicts_idle_model_to_load_another() -> None:
    loader = ScriptedLoader(sizes={"a": 300 * MiB, "b": 300 * MiB})
    pool = ModelPool(loader, guard(budget=500 * MiB), max_warm=2)
    with pool.lease(target("a")):
        pass
    with pool.lease(target("b")):
        assert pool.loaded_models() == ["b"]
    assert pool.peak_pool_bytes <= 500 * MiB
    assert pool.max_loaded_at_once == 1


def test_idle_models_unload_after_the_ttl() -> None:
    clock = Clock()
    pool = ModelPool(ScriptedLoader(), guard(), idle_ttl_s=300, clock=clock)
    with pool.lease(target("a")):
        pass
    clock.now += 299
    assert pool.unload_idle() == []
    clock.now += 2
    assert pool.unload_idle() == ["a"]
    assert pool.loaded_models() == []


def test_one_lock_per_model_serialises_generation_but_not_other_models() -> None:
    pool = ModelPool(ScriptedLoader(), guard(), max_warm=2)
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def hold_a() -> None:
        with pool.lease(target("a")):
            inside.set()
            release.wait(5)
            order.append("first a done")

    worker = threading.Thread(target=hold_a)
    worker.start()
    assert inside.wait(5)
    with pool.lease(target("b")):  # another model is not blocked by a's lock
        order.append("b")
    second = threading.Thread(target=lambda: (pool.lease(target("a")).__enter__(), order.append("second a")))
    second.start()
    second.join(0.2)
    assert "second a" not in order, "a second lease of 'a' must wait for the first"
    release.set()
    worker.join(5)
    second.join(5)
    assert order == ["b", "first a done", "second a"]


def test_failed_load_is_recorded_and_other_models_keep_serving() -> None:
    loader = ScriptedLoader(fail={"broken"})
    pool = ModelPool(loader, guard())
    with pool.lease(target("good")):
        pass
    with pytest.raises(ModelCorruptError):
        pool._acquire(target("broken"))
    with pool.lease(target("good")) as backend:
        assert backend.generate  # still served
    assert [e.kind for e in pool.events] == ["load", "load_failed"]


def test_status_reports_loaded_models_and_counters() -> None:
    pool = ModelPool(ScriptedLoader(), guard(budget=900 * MiB), max_warm=1)
    with pool.lease(target("a")):
        busy = pool.status()
    with pool.lease(target("b")):
        pass
    status = pool.status()
    assert busy.loaded[0].is_generating
    assert [m.model for m in status.loaded] == ["b"]
    assert status.loads == 2 and status.evictions == 1 and status.budget_bytes == 900 * MiB


def test_status_counts_every_load_and_eviction_of_a_long_run_not_just_the_kept_event_log() -> None:
    pool = ModelPool(ScriptedLoader(), guard(), max_warm=1)
    cycles = EVENT_LOG_SIZE  # each cycle loads one model and evicts the other: twice the log's size in events
    for i in range(cycles):
        with pool.lease(target("a" if i % 2 == 0 else "b")):
            pass
    status = pool.status()
    assert len(pool.events) == EVENT_LOG_SIZE
    assert status.loads == cycles and status.evictions == cycles - 1, "counters never stall or go down"


class _FallbackLoader(ScriptedLoader):
    """Sizes the KV cache by its type, and loads models that fall back to f16 KV, as llama.cpp may."""

    def estimate(self, target: LoadTarget) -> MemoryEstimate:
        kv = {"f16": 200 * MiB, "q8_0": 100 * MiB}[target.engine.kv_type]
        return MemoryEstimate(weights=100 * MiB, kv_cache=kv, compute=0)

    def load(self, target: LoadTarget) -> ScriptedBackend:
        backend = super().load(target)
        backend.engine = target.engine.model_copy(update={"kv_type": "f16", "flash_attn": False})  # type: ignore[attr-defined]
        return backend


def test_a_model_that_falls_back_to_f16_kv_is_counted_at_its_f16_size() -> None:
    pool = ModelPool(_FallbackLoader(), guard())
    q8 = LoadTarget(model="a", path=Path("/models/a.gguf"), engine=EngineSettings(kv_type="q8_0", flash_attn=True))
    assert pool.estimate(q8).total == 200 * MiB, "before the first load the pool believes the configured q8_0"
    with pool.lease(q8):
        pass
    assert [m.estimated_bytes for m in pool.status().loaded] == [300 * MiB]
    assert pool.estimate(q8).total == 300 * MiB, "later plans size it as it really runs"
