"""Fixtures for the native layer: the real probe on this machine and an aarch64 toolchain under qemu."""

import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

# One import name: the tests import the installed `livemind_native`, as `livemind doctor` does.
# Only the set-up's bootstrap runs it by path (`python3 -m native.build` before any venv exists);
# the tests that run those commands (-S, from the repo root) cover that path.
from livemind_native.probe import ProbeResult, normalize_arch, parse_cpuinfo, probe

REPO_ROOT = Path(__file__).resolve().parents[2]

AARCH64_PACKAGES = ("gcc-aarch64-linux-gnu", "qemu-user")
ARM_CHECK_ENV = "LIVEMIND_ARM_CHECK"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the ARM emulation check (two cross builds) unless it was asked for."""
    markexpr = str(config.getoption("markexpr") or "")
    if ("arm" in markexpr.split() and "not arm" not in markexpr) or os.environ.get(ARM_CHECK_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"ARM emulation check: run with `-m arm` or {ARM_CHECK_ENV}=1")
    for item in items:
        if "arm" in item.keywords:
            item.add_marker(skip)
APT_TIMEOUT_SECONDS = 900


@pytest.fixture(scope="session")
def host_probe(tmp_path_factory: pytest.TempPathFactory) -> ProbeResult:
    """The compiled probe's answer for the machine running the tests."""
    return probe(tmp_path_factory.mktemp("probe-cache"))


@pytest.fixture(scope="session")
def host_cpuinfo() -> ProbeResult:
    """The kernel's own feature list for this machine, from /proc/cpuinfo."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        pytest.skip("no /proc/cpuinfo on this system")
    return parse_cpuinfo(cpuinfo, machine=normalize_arch(platform.machine()))


@pytest.fixture(scope="session")
def aarch64_toolchain() -> tuple[str, str]:
    """(cross compiler, qemu-aarch64), installed with apt-get when missing."""
    compiler, emulator = "aarch64-linux-gnu-gcc", "qemu-aarch64"
    if shutil.which(compiler) and shutil.which(emulator):
        return compiler, emulator
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.skip(f"apt-get unavailable: cannot install {' and '.join(AARCH64_PACKAGES)}")
    install = [apt, "install", "-y", "-qq", *AARCH64_PACKAGES]
    completed = subprocess.run(install, capture_output=True, text=True, timeout=APT_TIMEOUT_SECONDS)
    if completed.returncode != 0:
        # Package lists may be missing on a fresh machine: refresh once and retry.
        subprocess.run([apt, "update", "-qq"], capture_output=True, text=True, timeout=APT_TIMEOUT_SECONDS)
        completed = subprocess.run(install, capture_output=True, text=True, timeout=APT_TIMEOUT_SECONDS)
    if completed.returncode != 0 or not (shutil.which(compiler) and shutil.which(emulator)):
        pytest.fail(f"apt-get install {' '.join(AARCH64_PACKAGES)} failed:\n{completed.stdout}\n{completed.stderr}")
    return compiler, emulator


@pytest.fixture(scope="session")
def aarch64_probe(aarch64_toolchain: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cpuprobe.c cross-compiled statically for aarch64."""
    compiler, _ = aarch64_toolchain
    binary = tmp_path_factory.mktemp("aarch64") / "cpuprobe-aarch64"
    source = REPO_ROOT / "native" / "cpuprobe.c"
    subprocess.run([compiler, "-O2", "-static", "-o", str(binary), str(source)], check=True, timeout=120)
    return binary


_X86_BASE = ("sse3", "ssse3", "sse4_2", "avx", "avx2", "fma", "f16c", "bmi2")
_AVX512_BASE = ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl")
_X86_ALL = (
    *_X86_BASE, "avx_vnni", *_AVX512_BASE, "avx512vnni", "avx512bf16", "avx512vbmi",
    "amx_tile", "amx_int8", "amx_bf16", "amx_usable",
)  # fmt: skip
_ARM_ALL = ("asimd", "fphp", "asimdhp", "asimddp", "i8mm", "sve", "sve2", "svei8mm", "bf16", "sme", "sme2")


def _cpu(arch: str, names: tuple[str, ...], present: tuple[str, ...]) -> ProbeResult:
    return {"arch": arch, "source": "cpuprobe", "features": {name: name in present for name in names}}


# Hand-written probe results for CPU families, as cpuprobe would print them.
SAMPLE_CPUS: dict[str, ProbeResult] = {
    # Sapphire Rapids as seen in a VM where CPUID advertises AMX but the OS grants no tiles.
    "xeon-spr-amx-unusable": _cpu(
        "x86_64",
        _X86_ALL,
        (
            *_X86_BASE,
            "avx_vnni",
            *_AVX512_BASE,
            "avx512vnni",
            "avx512bf16",
            "avx512vbmi",
            "amx_tile",
            "amx_int8",
            "amx_bf16",
        ),
    ),
    "xeon-spr-amx-usable": _cpu(
        "x86_64",
        _X86_ALL,
        (
            *_X86_BASE,
            "avx_vnni",
            *_AVX512_BASE,
            "avx512vnni",
            "avx512bf16",
            "avx512vbmi",
            "amx_tile",
            "amx_int8",
            "amx_bf16",
            "amx_usable",
        ),
    ),
    "epyc-zen4": _cpu("x86_64", _X86_ALL, (*_X86_BASE, *_AVX512_BASE, "avx512vnni", "avx512bf16", "avx512vbmi")),
    "xeon-icelake": _cpu("x86_64", _X86_ALL, (*_X86_BASE, *_AVX512_BASE, "avx512vnni", "avx512vbmi")),
    "epyc-zen3": _cpu("x86_64", _X86_ALL, _X86_BASE),
    "x86-sse-only": _cpu("x86_64", _X86_ALL, ("sse3", "ssse3")),
    "graviton4": _cpu("aarch64", _ARM_ALL, ("asimd", "fphp", "asimdhp", "asimddp", "i8mm", "sve", "sve2", "svei8mm", "bf16")),
    "graviton3": _cpu("aarch64", _ARM_ALL, ("asimd", "fphp", "asimdhp", "asimddp", "i8mm", "sve", "svei8mm", "bf16")),
    "graviton2": _cpu("aarch64", _ARM_ALL, ("asimd", "fphp", "asimdhp", "asimddp")),
    "arm-dotprod-no-fp16": _cpu("aarch64", _ARM_ALL, ("asimd", "asimddp")),
    "cortex-a72": _cpu("aarch64", _ARM_ALL, ("asimd",)),
    "riscv64": {"arch": "riscv64", "source": "cpuprobe", "features": {}},
}


@pytest.fixture
def sample_cpus() -> dict[str, ProbeResult]:
    """Hand-written probe results for CPU families, keyed by a short name."""
    return {name: {**cpu, "features": dict(cpu["features"])} for name, cpu in SAMPLE_CPUS.items()}
