"""What CPU this is, in the words figures are labelled with: its name and its widest SIMD.

The bench and the eval both stamp their results with it, so a figure read later says which
machine gave it (these machines differ: AVX2, AVX-512, AVX-512 with AMX, ARM with NEON or SVE).
"""

from __future__ import annotations

import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")

_SIMD_LABELS = (("amx_tile", "AVX-512, AMX"), ("avx512f", "AVX-512"), ("avx2", "AVX2"), ("sve", "SVE"), ("asimd", "NEON"))
"""cpuinfo flag -> label, widest first: the first flag present names the CPU's SIMD."""


def cpu_name(cpuinfo: Path = CPUINFO) -> str:
    """The "model name" line of /proc/cpuinfo, else what `platform` knows (e.g. "aarch64")."""
    for key, value in _fields(cpuinfo):
        if key == "model name":
            return value
    return platform.processor() or platform.machine()


def simd_label(cpuinfo: Path = CPUINFO) -> str:
    """"AVX-512, AMX", "AVX-512", "AVX2", "SVE", "NEON", or "" when no flag line is readable."""
    flags: set[str] = set()
    for key, value in _fields(cpuinfo):
        if key in ("flags", "Features"):
            flags = set(value.split())
            break
    return next((label for flag, label in _SIMD_LABELS if flag in flags), "")


def cpu_label(cpuinfo: Path = CPUINFO) -> str:
    """The CPU's name and its widest SIMD, e.g. "AMD EPYC, AVX-512"."""
    name, simd = cpu_name(cpuinfo), simd_label(cpuinfo)
    return f"{name}, {simd}" if simd else name


def _fields(cpuinfo: Path) -> list[tuple[str, str]]:
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return []
    return [(key.strip(), value.strip()) for key, _, value in (line.partition(":") for line in lines)]
