"""The model pool: lazy loads, a small warm set, idle unloads, and RAM-guarded admission.

- A model loads on first use and stays warm; at most `max_warm` stay loaded.
- Eviction is least-recently-used and never touches a model with an active lease.
- Each loaded model has its own lock: one generation at a time per llama.cpp context.
- Before a load the guard checks the estimate; the pool evicts idle models to make room,
  aims for the soft target, and refuses with RamBudgetExceeded when nothing can go.
- Every load, eviction, unload and refusal is recorded in `events`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from livemind.engine.backends.base import Backend, BackendLoader, LoadTarget, MemoryEstimate
from livemind.engine.ram import RamGuard, release_freed_memory
from livemind.errors import BusyError, LiveMindError, RamBudgetExceeded
from livemind.types import EngineSettings, LoadedModelStatus, PoolStatus

EVENT_LOG_SIZE = 1000
"""Pool events kept for `events` (the newest); the counts in `status()` cover the whole run."""


@dataclass(frozen=True)
class PoolEvent:
    """One thing the pool did: load, evict, unload, refuse or load_failed."""

    kind: str
    model: str
    key: str
    bytes: int
    reason: str
    loaded_after: tuple[str, ...]
    at: float


@dataclass
class _Slot:
    target: LoadTarget
    backend: Backend
    estimate: MemoryEstimate
    last_used: float
    lock: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(1))
    leases: int = 0
    uses: int = 0


class ModelPool:
    """Loads models on demand and keeps RAM under the guard's limits."""

    def __init__(
        self,
        loader: BackendLoader,
        guard: RamGuard,
        *,
        max_warm: int = 2,
        idle_ttl_s: float = 300.0,
        wait_timeout_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loader = loader
        self.guard = guard
        self.max_warm = max_warm
        self.idle_ttl_s = idle_ttl_s
        self._wait_timeout_s = wait_timeout_s
        self._clock = clock
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self._cond = threading.Condition()
        self._load_lock = threading.Lock()
        self._events: list[PoolEvent] = []
        self._totals: Counter[str] = Counter()  # since start: the event log keeps only the last 1,000
        self._engine_used: dict[str, EngineSettings] = {}  # per target key, when the engine fell back
        self._reaper: threading.Thread | None = None
        self._reaper_lock = threading.Lock()
        self._stop_reaper = threading.Event()
        self.peak_pool_bytes = 0
        self.max_loaded_at_once = 0

    # -- reading -------------------------------------------------------------------------

    @property
    def events(self) -> list[PoolEvent]:
        """A copy of everything the pool has done, oldest first."""
        with self._cond:
            return list(self._events)

    def loaded_models(self) -> list[str]:
        """Model names currently loaded, least recently used first."""
        with self._cond:
            return [s.target.model for s in self._slots.values()]

    def pool_bytes(self) -> int:
        """Estimated bytes of every loaded model."""
        with self._cond:
            return self._pool_bytes_locked()

    def _pool_bytes_locked(self) -> int:
        return sum(s.estimate.total for s in self._slots.values())

    def _estimate(self, target: LoadTarget) -> MemoryEstimate:
        """The loader's estimate, with the engine settings the model really got if a load changed them."""
        used = self._engine_used.get(target.key)
        return self._loader.estimate(target if used is None else dataclasses.replace(target, engine=used))

    def estimate(self, target: LoadTarget) -> MemoryEstimate:
        """The bytes a target will take when loaded (zero if it is already loaded)."""
        return self._estimate(target)

    def fits_together(self, targets: Sequence[LoadTarget], *,
                      target_percent: float | None = None) -> tuple[bool, int, int]:
        """Whether these models can all be loaded at once: (fits, needed bytes, room bytes).

        Room counts what is free now plus what evicting every idle model would free, under the
        hard limit, or under `target_percent` of system memory when given (the soft target).
        """
        unique = {t.key: t for t in targets if not t.is_remote}
        if len(unique) > self.max_warm:
            return False, 0, 0
        with self._cond:
            loaded = {k for k in unique if k in self._slots}
            idle_bytes = sum(s.estimate.total for k, s in self._slots.items() if s.leases == 0 and k not in unique)
            pool_bytes = self._pool_bytes_locked() - idle_bytes
        needed = sum(self._estimate(t).total for k, t in unique.items() if k not in loaded)
        admission = self.guard.admit(needed, pool_bytes, freeable=idle_bytes, target_percent=target_percent)
        return admission.fits, needed, admission.available

    def status(self) -> PoolStatus:
        """RAM, limits, and every loaded model."""
        reading = self.guard.read()
        now = self._clock()
        with self._cond:
            loaded = tuple(
                LoadedModelStatus(
                    key=k,
                    model=s.target.model,
                    estimated_bytes=s.estimate.total,
                    is_generating=s.leases > 0,
                    idle_s=0.0 if s.leases else round(now - s.last_used, 3),
                    uses=s.uses,
                )
                for k, s in self._slots.items()
            )
            counts = {kind: self._totals[kind] for kind in ("load", "evict", "refuse")}
            pool_bytes = self._pool_bytes_locked()
        return PoolStatus(
            ram_total_bytes=reading.total,
            ram_used_bytes=reading.used,
            ram_available_bytes=reading.available,
            ram_percent=round(reading.percent, 2),
            hard_limit_percent=self.guard.hard_limit_percent,
            soft_target_percent=self.guard.soft_target_percent,
            budget_bytes=self.guard.budget_bytes,
            pool_bytes=pool_bytes,
            max_warm=self.max_warm,
            idle_ttl_s=self.idle_ttl_s,
            loaded=loaded,
            loads=counts["load"],
            evictions=counts["evict"],
            refusals=counts["refuse"],
        )

    # -- leasing -------------------------------------------------------------------------

    @contextmanager
    def lease(self, target: LoadTarget) -> Iterator[Backend]:
        """Hold a loaded model exclusively for one generation; loads it if needed."""
        slot = self._acquire(target)
        try:
            with slot.lock:
                slot.uses += 1
                yield slot.backend
        finally:
            with self._cond:
                slot.leases -= 1
                slot.last_used = self._clock()
                self._cond.notify_all()

    def _acquire(self, target: LoadTarget) -> _Slot:
        self.unload_idle()
        key = target.key
        with self._cond:
            slot = self._slots.get(key)
            if slot is not None:
                slot.leases += 1
                self._slots.move_to_end(key)
                return slot
        with self._load_lock:  # one load at a time: admission then sees every loaded model
            with self._cond:
                slot = self._slots.get(key)
                if slot is not None:  # someone loaded it while we waited
                    slot.leases += 1
                    self._slots.move_to_end(key)
                    return slot
            try:
                estimate = self._estimate(target)
            except LiveMindError as exc:
                self._record("load_failed", target, 0, str(exc))
                raise
            with self._cond:
                self._make_room(target, estimate)
            try:
                backend = self._loader.load(target)
            except LiveMindError as exc:
                self._record("load_failed", target, estimate.total, str(exc))
                raise
            actual = getattr(backend, "engine", target.engine)
            if actual != target.engine:  # e.g. llama.cpp refused q8_0 KV with flash attention: f16 costs more
                self._engine_used[key] = actual
                estimate = self._estimate(target)
            with self._cond:
                # a remote server may take several requests at once; a local context takes one
                concurrency = int(getattr(backend, "max_concurrency", 1)) if target.is_remote else 1
                slot = _Slot(target=target, backend=backend, estimate=estimate, last_used=self._clock(), leases=1,
                             lock=threading.Semaphore(concurrency))
                self._slots[key] = slot
                self.peak_pool_bytes = max(self.peak_pool_bytes, self._pool_bytes_locked())
                self.max_loaded_at_once = max(self.max_loaded_at_once, len(self._slots))
                self._record_locked("load", target, estimate.total, "first use")
                return slot

    def _make_room(self, target: LoadTarget, estimate: MemoryEstimate) -> None:
        """Evict idle models until the new one fits; wait for busy ones only for the warm cap."""
        if target.is_remote:
            return  # remote experts take no local memory and no warm slot
        needed = estimate.total
        local = sum(s.estimate.total for s in self._slots.values() if not s.target.is_remote)
        best = self.guard.admit(needed, self._pool_bytes_locked() - local, freeable=local)
        if not best.fits:  # it would not fit with every other model unloaded: keep them warm and refuse now
            self._record_locked("refuse", target, needed, best.reason)
            raise RamBudgetExceeded(model=target.model, needed=needed, available=best.available, limit=best.limit,
                                    detail=best.reason, permanent=needed > best.limit)
        deadline = self._clock() + self._wait_timeout_s
        while self._warm_count_locked() >= self.max_warm:
            if not self._evict_lru_locked(f"warm set full ({self.max_warm}) loading {target.model}"):
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise BusyError(f"all {self.max_warm} warm models are busy; cannot load {target.model}", retry_after_s=5)
                self._cond.wait(timeout=min(remaining, 1.0))
        while True:
            admission = self.guard.admit(needed, self._pool_bytes_locked())
            if admission.fits:
                break
            if not self._evict_lru_locked(f"RAM: {admission.reason} loading {target.model}"):
                self._record_locked("refuse", target, needed, admission.reason)
                raise RamBudgetExceeded(model=target.model, needed=needed, available=admission.available,
                                        limit=admission.limit, detail=admission.reason)
        # aim for the soft target, but only by dropping idle models
        while not self.guard.admit(needed, self._pool_bytes_locked(), target_percent=self.guard.soft_target_percent).fits:
            if not self._evict_lru_locked(f"soft target {self.guard.soft_target_percent:.0f}% loading {target.model}"):
                break

    def _warm_count_locked(self) -> int:
        return sum(1 for s in self._slots.values() if not s.target.is_remote)

    def _evict_lru_locked(self, reason: str) -> bool:
        for key, slot in self._slots.items():
            if slot.leases == 0 and not slot.target.is_remote:
                self._unload_locked(key, "evict", reason)
                return True
        return False

    def _unload_locked(self, key: str, kind: str, reason: str) -> None:
        slot = self._slots.pop(key)
        slot.backend.close()
        release_freed_memory()  # or the freed KV and compute buffers stay in the heap and RSS outgrows the budget
        self._record_locked(kind, slot.target, slot.estimate.total, reason)
        self._cond.notify_all()

    def unload_idle(self) -> list[str]:
        """Unload models idle for longer than the TTL; return their names."""
        now = self._clock()
        dropped = []
        with self._cond:
            for key in [k for k, s in self._slots.items() if s.leases == 0 and now - s.last_used >= self.idle_ttl_s]:
                dropped.append(self._slots[key].target.model)
                self._unload_locked(key, "unload", f"idle for {self.idle_ttl_s:.0f} s")
        return dropped

    def unload_all(self) -> None:
        """Unload every idle model (models mid-generation finish first)."""
        with self._cond:
            for key in [k for k, s in self._slots.items() if s.leases == 0]:
                self._unload_locked(key, "unload", "shutdown")

    def start_reaper(self, interval_s: float = 15.0) -> None:
        """Unload idle models in the background every interval."""
        with self._reaper_lock:  # a close racing a start must not join a thread not yet started
            if self._reaper is not None:
                return
            self._stop_reaper.clear()

            def run() -> None:
                while not self._stop_reaper.wait(interval_s):
                    self.unload_idle()

            self._reaper = threading.Thread(target=run, name="livemind-pool-reaper", daemon=True)
            self._reaper.start()

    def stop_reaper(self) -> None:
        """Stop the background unloader."""
        self._stop_reaper.set()
        with self._reaper_lock:
            if self._reaper is not None:
                self._reaper.join(timeout=5)
                self._reaper = None

    def _record(self, kind: str, target: LoadTarget, nbytes: int, reason: str) -> None:
        with self._cond:
            self._record_locked(kind, target, nbytes, reason)

    def _record_locked(self, kind: str, target: LoadTarget, nbytes: int, reason: str) -> None:
        self._totals[kind] += 1
        self._events.append(PoolEvent(kind, target.model, target.key, nbytes, reason,
                                      tuple(s.target.model for s in self._slots.values()), time.time()))
        del self._events[:-EVENT_LOG_SIZE]
