"""The RAM guard: reads memory the way the kernel enforces it, and admits or refuses loads.

Two limits apply together:
- the system limit: used memory must stay below hard_limit_percent of total (cgroup-aware),
  and loads aim for soft_target_percent by evicting idle models first;
- an optional absolute budget for the bytes of all loaded models (`--ram-budget 600MiB`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from livemind.types import RamUse

LOG = logging.getLogger("livemind")

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class MemoryReading:
    """Total, used and available bytes, and where the numbers came from."""

    total: int
    used: int
    available: int
    source: str

    @property
    def percent(self) -> float:
        """Used memory as a percentage of total."""
        return 100.0 * self.used / self.total if self.total else 100.0


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if not text or text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _cgroup_inactive_file(stat_path: Path) -> int:
    try:
        for line in stat_path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key in ("inactive_file", "total_inactive_file"):
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def read_memory(cgroup_root: Path = CGROUP_ROOT) -> MemoryReading:
    """Memory as the tighter of the machine and this process's cgroup limit sees it."""
    vm = psutil.virtual_memory()
    reading = MemoryReading(total=vm.total, used=vm.total - vm.available, available=vm.available, source="system")
    # cgroup v2, then v1: a container's limit can be far below the machine's RAM.
    for limit_file, usage_file, stat_file in (
        ("memory.max", "memory.current", "memory.stat"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes", "memory/memory.stat"),
    ):
        limit = _read_int(cgroup_root / limit_file)
        usage = _read_int(cgroup_root / usage_file)
        if limit is None or usage is None or limit >= vm.total:
            continue
        # page cache that can be dropped does not count against the limit in practice
        used = max(0, usage - _cgroup_inactive_file(cgroup_root / stat_file))
        return MemoryReading(total=limit, used=used, available=max(0, limit - used), source="cgroup")
    return reading


@dataclass(frozen=True)
class Admission:
    """The guard's answer for one load: does it fit, and the numbers behind it."""

    fits: bool
    needed: int
    available: int
    limit: int
    reason: str


class RamGuard:
    """Decides whether a model of a given size may load now."""

    def __init__(
        self,
        *,
        hard_limit_percent: float = 90.0,
        soft_target_percent: float = 80.0,
        budget_bytes: int | None = None,
        reader: Callable[[], MemoryReading] = read_memory,
    ) -> None:
        self.hard_limit_percent = hard_limit_percent
        self.soft_target_percent = soft_target_percent
        self.budget_bytes = budget_bytes
        self._reader = reader

    def read(self) -> MemoryReading:
        """Current memory."""
        return self._reader()

    def admit(self, needed: int, pool_bytes: int, *, target_percent: float | None = None, freeable: int = 0) -> Admission:
        """Whether `needed` more bytes fit under the limits, given `pool_bytes` loaded.

        `freeable` is memory that evicting idle models would return (already left out of
        `pool_bytes` by the caller).
        """
        reading = self._reader()
        percent = self.hard_limit_percent if target_percent is None else target_percent
        system_limit = int(reading.total * percent / 100.0)
        system_room = system_limit - reading.used + freeable
        if self.budget_bytes is not None:
            budget_room = self.budget_bytes - pool_bytes
            if budget_room < needed and budget_room <= system_room:
                return Admission(False, needed, max(0, budget_room), self.budget_bytes,
                                 f"RAM budget {self.budget_bytes // 2**20} MiB for loaded models")
            if system_room < needed:
                return Admission(False, needed, max(0, system_room), system_limit,
                                 f"system memory would pass {percent:.0f}%")
            return Admission(True, needed, min(budget_room, system_room), min(self.budget_bytes, system_limit), "fits")
        if system_room < needed:
            return Admission(False, needed, max(0, system_room), system_limit, f"system memory would pass {percent:.0f}%")
        return Admission(True, needed, system_room, system_limit, "fits")


def release_freed_memory() -> bool:
    """Hand the heap's freed pages back to the system (glibc's malloc_trim); False where that does not exist.

    An unloaded model's KV cache and compute buffers are freed with free(), and glibc keeps much
    of that in its arenas: measured here, each SmolLM2 ↔ Gemma swap under a budget that holds one
    left the server about 60 MiB bigger, so real RSS crept over the budget the pool's own account
    kept (tests/reliability/test_load.py, the "taking turns" test).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # musl and other libcs have no malloc_trim
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    trim(0)
    return True


def ram_use(before: MemoryReading, after: MemoryReading, limit_percent: float, *, what: str = "request") -> RamUse:
    """System memory before and after one request, logged at INFO and returned for its result."""
    use = RamUse(before_percent=round(before.percent, 2), after_percent=round(after.percent, 2),
                 before_bytes=before.used, after_bytes=after.used, limit_percent=limit_percent)
    LOG.info("%s: RAM %.1f%% -> %.1f%% (limit %.0f%%)", what, use.before_percent, use.after_percent, limit_percent)
    return use
