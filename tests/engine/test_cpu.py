"""The CPU label that bench and eval results carry, read from cpuinfo-format files."""

from __future__ import annotations

from pathlib import Path

import pytest

from livemind.engine.cpu import cpu_label, cpu_name, simd_label


@pytest.mark.parametrize(("flags", "label"), [
    ("fpu sse2 avx2 avx512f amx_tile amx_int8", "AVX-512, AMX"),
    ("fpu sse2 avx2 avx512f", "AVX-512"),
    ("fpu sse2 avx2", "AVX2"),
    ("fpu sse2", ""),
])
def test_the_widest_simd_names_an_x86_cpu(tmp_path: Path, flags: str, label: str) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: Example CPU\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert simd_label(info) == label
    assert cpu_label(info) == (f"Example CPU, {label}" if label else "Example CPU")


def test_an_arm_cpu_without_a_model_name_is_named_by_its_architecture(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp sve i8mm\nCPU implementer\t: 0x41\n")
    assert simd_label(info) == "SVE"
    assert cpu_name(info) != "" and cpu_label(info).endswith(", SVE")


def test_an_unreadable_cpuinfo_still_gives_a_name(tmp_path: Path) -> None:
    assert cpu_name(tmp_path / "missing") != ""
    assert simd_label(tmp_path / "missing") == ""


def test_this_machine_has_a_label() -> None:
    assert cpu_label().strip()
