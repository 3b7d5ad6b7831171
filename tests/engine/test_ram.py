"""RAM guard: cgroup-aware readings and admission against the hard limit and the budget."""

from __future__ import annotations

from pathlib import Path

from livemind.engine.ram import MemoryReading, RamGuard, read_memory

GiB = 2**30
MiB = 2**20


def fixed(total: int, used: int) -> MemoryReading:
    return MemoryReading(total=total, used=used, available=total - used, source="test")


def test_reading_respects_a_cgroup_limit_below_machine_ram(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text(str(2 * GiB))
    (tmp_path / "memory.current").write_text(str(1 * GiB))
    (tmp_path / "memory.stat").write_text(f"anon 1\ninactive_file {256 * MiB}\n")
    reading = read_memory(tmp_path)
    assert reading.source == "cgroup"
    assert reading.total == 2 * GiB
    assert reading.used == 1 * GiB - 256 * MiB


def test_reading_falls_back_to_system_without_a_cgroup_limit(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("max")
    (tmp_path / "memory.current").write_text("123")
    assert read_memory(tmp_path).source == "system"


def test_guard_refuses_a_load_that_passes_the_hard_limit() -> None:
    guard = RamGuard(hard_limit_percent=90, reader=lambda: fixed(10 * GiB, 8 * GiB))
    admission = guard.admit(2 * GiB, 0)
    assert not admission.fits
    assert admission.limit == 9 * GiB
    assert admission.available == 1 * GiB


def test_guard_admits_within_the_hard_limit() -> None:
    guard = RamGuard(hard_limit_percent=90, reader=lambda: fixed(10 * GiB, 2 * GiB))
    assert guard.admit(1 * GiB, 0).fits


def test_absolute_budget_counts_the_models_already_loaded() -> None:
    guard = RamGuard(budget_bytes=600 * MiB, reader=lambda: fixed(24 * GiB, 1 * GiB))
    assert guard.admit(300 * MiB, 200 * MiB).fits
    refused = guard.admit(300 * MiB, 400 * MiB)
    assert not refused.fits and refused.available == 200 * MiB and refused.limit == 600 * MiB


def test_soft_target_is_a_lower_bar_than_the_hard_limit() -> None:
    guard = RamGuard(hard_limit_percent=90, soft_target_percent=80, reader=lambda: fixed(10 * GiB, 7 * GiB))
    assert guard.admit(int(1.5 * GiB), 0).fits
    assert not guard.admit(int(1.5 * GiB), 0, target_percent=80).fits
