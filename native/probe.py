"""Measure which SIMD features this CPU and kernel let a process use.

The primary source is `cpuprobe.c`, compiled once per source version and architecture
into a cache directory and run. Without a C compiler, or when compiling or running the
probe fails, the answer comes from the kernel's own lists instead, and the result says so
in "source" and "note": on aarch64 the auxiliary vector (`/proc/self/auxv`, the same
AT_HWCAP/AT_HWCAP2 words cpuprobe reads, and what qemu-user emulates for a guest), else
`/proc/cpuinfo`.

A probe binary that answers for another architecture than this Python's (an x86 compiler
found on PATH by a Python running under qemu-aarch64) is refused, not believed.

    python3 -m native.probe [--cache-dir DIR]
"""

import argparse
import ctypes
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NotRequired, TypedDict

from .home import default_home, probe_cache_dir

PROBE_SOURCE = Path(__file__).with_name("cpuprobe.c")
COMPILE_TIMEOUT_SECONDS = 60
RUN_TIMEOUT_SECONDS = 10

# Feature name in the probe -> flag name in /proc/cpuinfo, in the probe's output order.
X86_CPUINFO_FLAGS: dict[str, str] = {
    "sse3": "pni",
    "ssse3": "ssse3",
    "sse4_2": "sse4_2",
    "avx": "avx",
    "avx2": "avx2",
    "fma": "fma",
    "f16c": "f16c",
    "bmi2": "bmi2",
    "avx_vnni": "avx_vnni",
    "avx512f": "avx512f",
    "avx512cd": "avx512cd",
    "avx512bw": "avx512bw",
    "avx512dq": "avx512dq",
    "avx512vl": "avx512vl",
    "avx512vnni": "avx512_vnni",
    "avx512bf16": "avx512_bf16",
    "avx512vbmi": "avx512vbmi",
    "amx_tile": "amx_tile",
    "amx_int8": "amx_int8",
    "amx_bf16": "amx_bf16",
}
AARCH64_CPUINFO_FEATURES: tuple[str, ...] = (
    "asimd",
    "fphp",
    "asimdhp",
    "asimddp",
    "i8mm",
    "sve",
    "sve2",
    "svei8mm",
    "bf16",
    "sme",
    "sme2",
)

# Linux arm64 uapi (asm/hwcap.h): feature -> (auxv word, bit), as cpuprobe.c spells them out.
_AT_HWCAP = 16
_AT_HWCAP2 = 26
AARCH64_HWCAP_BITS: dict[str, tuple[int, int]] = {
    "asimd": (_AT_HWCAP, 1),
    "fphp": (_AT_HWCAP, 9),
    "asimdhp": (_AT_HWCAP, 10),
    "asimddp": (_AT_HWCAP, 20),
    "i8mm": (_AT_HWCAP2, 13),
    "sve": (_AT_HWCAP, 22),
    "sve2": (_AT_HWCAP2, 1),
    "svei8mm": (_AT_HWCAP2, 9),
    "bf16": (_AT_HWCAP2, 14),
    "sme": (_AT_HWCAP2, 23),
    "sme2": (_AT_HWCAP2, 37),
}

# Linux x86_64 syscall number and arch_prctl request that ggml also uses for AMX.
_SYS_ARCH_PRCTL_X86_64 = 158
_ARCH_REQ_XCOMP_PERM = 0x1023
_XFEATURE_XTILEDATA = 18


class ProbeResult(TypedDict):
    """What the probe found: the CPU architecture and one boolean per feature."""

    arch: str
    source: str
    features: dict[str, bool]
    detail: NotRequired[dict[str, str | int]]
    note: NotRequired[str]


class _ProbeFailure(Exception):
    """Compiling or running cpuprobe failed; the message becomes the result's note."""


def probe(
    cache_dir: Path,
    *,
    compiler: str | None = None,
    cpuinfo_path: Path = Path("/proc/cpuinfo"),
    auxv_path: Path = Path("/proc/self/auxv"),
) -> ProbeResult:
    """Describe this CPU's usable SIMD features, from cpuprobe or else the kernel's lists.

    `compiler` names the C compiler; by default the first of `gcc`, `cc` on PATH.
    """
    machine = normalize_arch(platform.machine())
    try:
        binary = compile_probe(cache_dir, compiler=compiler)
        result = run_probe(binary)
        if result["arch"] != machine:
            raise _ProbeFailure(
                f"{binary.name} reports {result['arch']} but this Python runs as {machine} "
                "(an emulated interpreter with the host's compiler on PATH?)"
            )
        return result
    except _ProbeFailure as failure:
        if machine == "aarch64":
            from_auxv = parse_auxv(auxv_path)
            if from_auxv is not None:
                from_auxv["note"] = f"{failure}; features read from {auxv_path} (AT_HWCAP, AT_HWCAP2) instead"
                return from_auxv
        result = parse_cpuinfo(cpuinfo_path, machine=machine)
        result["note"] = f"{failure}; features read from {cpuinfo_path} instead"
        return result


def parse_auxv(path: Path) -> ProbeResult | None:
    """Read aarch64 features from a 64-bit auxiliary vector (pairs of native-endian u64), or None."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    words: dict[int, int] = {}
    for offset in range(0, len(raw) - 15, 16):
        key = int.from_bytes(raw[offset : offset + 8], sys.byteorder)
        if key == 0:  # AT_NULL ends the vector
            break
        words[key] = int.from_bytes(raw[offset + 8 : offset + 16], sys.byteorder)
    if _AT_HWCAP not in words:
        return None
    hwcap, hwcap2 = words[_AT_HWCAP], words.get(_AT_HWCAP2, 0)
    features = {name: bool(words.get(word, 0) >> bit & 1) for name, (word, bit) in AARCH64_HWCAP_BITS.items()}
    return {
        "arch": "aarch64",
        "source": "auxv",
        "features": features,
        "detail": {"hwcap": f"0x{hwcap:x}", "hwcap2": f"0x{hwcap2:x}"},
    }


def normalize_arch(machine: str) -> str:
    """Map the spellings of `uname -m` and friends onto "x86_64" and "aarch64"."""
    lowered = machine.lower()
    if lowered in ("x86_64", "amd64", "x64"):
        return "x86_64"
    if lowered in ("aarch64", "arm64", "armv8l"):
        return "aarch64"
    return lowered or "unknown"


def compile_probe(cache_dir: Path, *, compiler: str | None = None) -> Path:
    """Return the cached probe binary for the current source, compiling it if needed."""
    source = PROBE_SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    # Keyed by architecture too: one cache directory may be shared with an emulated aarch64 Python.
    binary = cache_dir / f"cpuprobe-{normalize_arch(platform.machine())}-{digest}"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary

    chosen = compiler or shutil.which("gcc") or shutil.which("cc")
    if chosen is None:
        raise _ProbeFailure("no C compiler (gcc or cc) on PATH to build cpuprobe.c")
    # Compile under a private name and rename: concurrent probes never run a half-written file.
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(prefix=".cpuprobe-", dir=cache_dir)
    except OSError as error:
        raise _ProbeFailure(f"cannot write the probe binary to {cache_dir}: {error.strerror}") from error
    os.close(handle)
    try:
        completed = subprocess.run(
            [chosen, "-O2", "-o", partial, str(PROBE_SOURCE)],
            capture_output=True,
            text=True,
            timeout=COMPILE_TIMEOUT_SECONDS,
            check=False,
        )
    except OSError as error:
        os.unlink(partial)
        raise _ProbeFailure(f"could not start C compiler {chosen}: {error.strerror}") from error
    except subprocess.TimeoutExpired as error:
        os.unlink(partial)
        raise _ProbeFailure(f"compiling cpuprobe.c with {chosen} timed out") from error
    if completed.returncode != 0:
        os.unlink(partial)
        reason = _last_line(completed.stderr) or f"exit status {completed.returncode}"
        raise _ProbeFailure(f"compiling cpuprobe.c with {chosen} failed: {reason}")
    os.chmod(partial, 0o755)
    os.replace(partial, binary)
    return binary


def run_probe(binary: Path, *, runner: tuple[str, ...] = ()) -> ProbeResult:
    """Run a probe binary (optionally under `runner`, such as qemu) and parse its JSON."""
    command = [*runner, str(binary)]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False)
    except OSError as error:
        raise _ProbeFailure(f"could not run {binary.name}: {error.strerror}") from error
    except subprocess.TimeoutExpired as error:
        raise _ProbeFailure(f"{binary.name} did not finish in {RUN_TIMEOUT_SECONDS} s") from error
    if completed.returncode != 0:
        raise _ProbeFailure(f"{binary.name} exited with status {completed.returncode}")
    try:
        parsed = json.loads(completed.stdout)
    except json.JSONDecodeError as error:
        raise _ProbeFailure(f"{binary.name} printed invalid JSON: {error.msg}") from error
    return _validated(parsed)


def parse_cpuinfo(path: Path, *, machine: str) -> ProbeResult:
    """Read features from a /proc/cpuinfo-format file (the "flags" or "Features" line)."""
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return {
            "arch": machine,
            "source": "proc-cpuinfo",
            "features": {},
            "note": f"could not read {path}: {error.strerror}",
        }
    words = _first_feature_line(text)
    if machine == "x86_64":
        features = {name: flag in words for name, flag in X86_CPUINFO_FLAGS.items()}
        features["amx_usable"] = features["amx_tile"] and _amx_permission_granted()
    elif machine == "aarch64":
        features = {name: name in words for name in AARCH64_CPUINFO_FEATURES}
    else:
        features = {}
    return {"arch": machine, "source": "proc-cpuinfo", "features": features}


def _first_feature_line(text: str) -> set[str]:
    for line in text.splitlines():
        key, separator, value = line.partition(":")
        if separator and key.strip().lower() in ("flags", "features"):
            return set(value.split())
    return set()


def _amx_permission_granted() -> bool:
    """Ask Linux for AMX tile permission, as cpuprobe does, without a compiler."""
    if sys.platform != "linux" or normalize_arch(platform.machine()) != "x86_64":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        status = libc.syscall(_SYS_ARCH_PRCTL_X86_64, _ARCH_REQ_XCOMP_PERM, _XFEATURE_XTILEDATA)
    except (OSError, AttributeError):
        return False
    return bool(status == 0)


def _validated(parsed: object) -> ProbeResult:
    if not isinstance(parsed, dict):
        raise _ProbeFailure("cpuprobe printed JSON that is not an object")
    arch = parsed.get("arch")
    features = parsed.get("features")
    if not isinstance(arch, str) or not isinstance(features, dict):
        raise _ProbeFailure("cpuprobe output lacks 'arch' or 'features'")
    if not all(isinstance(key, str) and isinstance(value, bool) for key, value in features.items()):
        raise _ProbeFailure("cpuprobe output has a feature that is not a boolean")
    result: ProbeResult = {"arch": arch, "source": "cpuprobe", "features": dict(features)}
    detail = parsed.get("detail")
    if isinstance(detail, dict):
        result["detail"] = {str(key): value for key, value in detail.items()}
    return result


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def main(argv: list[str] | None = None) -> int:
    """Print the probe result as JSON."""
    parser = argparse.ArgumentParser(prog=f"python3 -m {__package__}.probe", description=main.__doc__)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="LiveMind cache directory (default: $LIVEMIND_HOME or ~/.cache/livemind)",
    )
    args = parser.parse_args(argv)
    home = args.cache_dir or default_home(os.environ)
    print(json.dumps(probe(probe_cache_dir(home)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
