"""Compare what the CPU can do, what profile was chosen and what the engine was built with.

The engine's side comes from `llama_cpp.llama_print_system_info()`, a string like
`CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | ... | REPACK = 1 | `. In ggml each of those
SIMD flags is a compile-time fact (`#if defined(__AVX2__)`), so the string proves
which paths the loaded library contains, whatever the CPU offers.
"""

from collections.abc import Sequence
from typing import TypedDict

from .errors import ProfileError
from .probe import ProbeResult
from .profiles import Profile, get_profile, load_profiles, rebuild_command, select_profile

# System-info flag -> probe features a CPU needs to execute that code path.
# The x86 AVX512 flag means -mavx512f -mavx512cd -mavx512vl -mavx512dq -mavx512bw
# (ggml/src/ggml-cpu/CMakeLists.txt), so it needs all five.
_X86_NEEDS: dict[str, tuple[str, ...]] = {
    "SSE3": ("sse3",),
    "SSSE3": ("ssse3",),
    "AVX": ("avx",),
    "AVX_VNNI": ("avx_vnni",),
    "AVX2": ("avx2",),
    "F16C": ("f16c",),
    "FMA": ("fma",),
    "BMI2": ("bmi2",),
    "AVX512": ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"),
    "AVX512_VBMI": ("avx512vbmi",),
    "AVX512_VNNI": ("avx512vnni",),
    "AVX512_BF16": ("avx512bf16",),
    "AMX_INT8": ("amx_tile", "amx_int8", "amx_usable"),
}
_AARCH64_NEEDS: dict[str, tuple[str, ...]] = {
    "NEON": ("asimd",),
    "ARM_FMA": ("asimd",),
    "FP16_VA": ("asimdhp",),
    "MATMUL_INT8": ("i8mm",),
    "SVE": ("sve",),
    "DOTPROD": ("asimddp",),
    "SME": ("sme",),
    "SME2": ("sme2",),
}
SYSTEM_INFO_NEEDS: dict[str, tuple[str, ...]] = {**_X86_NEEDS, **_AARCH64_NEEDS}
# A path that a wider one already covers is not missing: AVX-VNNI is the 256-bit
# VEX encoding of what AVX512_VNNI does.
_COVERED_BY = {"AVX_VNNI": "AVX512_VNNI"}
SIMD_FLAGS: tuple[str, ...] = tuple(SYSTEM_INFO_NEEDS)
_FLAG_ARCH = {flag: "x86_64" for flag in _X86_NEEDS} | {flag: "aarch64" for flag in _AARCH64_NEEDS}


class CrashRisk(TypedDict):
    """An engine path this CPU cannot execute."""

    flag: str
    cpu_lacks: list[str]
    reason: str
    command: str


class MissingPath(TypedDict):
    """A SIMD path the CPU has and the engine lacks; `command` is None when no profile adds it."""

    flag: str
    fixed_by_profile: str | None
    command: str | None


class Agreement(TypedDict):
    """Whether the probe's profile, the installed profile and the engine's flags line up."""

    probe_profile: str
    installed_profile: str | None
    installed_is_recommended: bool
    engine_matches_profile: bool | None
    engine_safe_on_cpu: bool


class SimdSummary(TypedDict):
    """SIMD paths of one side (CPU or engine), in system-info order."""

    simd_paths: list[str]
    flags: list[str]


class Diagnosis(TypedDict):
    """The full report of `diagnose`: plain JSON-able data."""

    verdict: str  # "ok", "suboptimal", "mismatch" or "crash-risk"
    agree: bool
    agreement: Agreement
    arch: str
    probe_source: str
    cpu: SimdSummary
    engine: SimdSummary
    missing_paths: list[MissingPath]
    crash_risks: list[CrashRisk]
    recommended_profile: str
    rebuild_command: str | None
    messages: list[str]


def parse_system_info(system_info: str) -> dict[str, dict[str, str]]:
    """Split a `llama_print_system_info()` string into {backend: {flag: value}}.

    Strings from older builds without backend names land under the backend "".
    """
    backends: dict[str, dict[str, str]] = {}
    current = ""
    for chunk in system_info.split("|"):
        text = chunk.strip()
        if not text:
            continue
        head, separator, rest = text.partition(" : ")
        if separator and "=" not in head:
            current = head.strip()
            text = rest.strip()
        name, equals, value = text.partition("=")
        if equals and name.strip():
            backends.setdefault(current, {})[name.strip()] = value.strip()
    return backends


def engine_flags(system_info: str) -> set[str]:
    """Return the SIMD and library flags that are on ("= 1" or a non-zero value) in the CPU backend."""
    backends = parse_system_info(system_info)
    cpu = backends.get("CPU")
    chosen = [cpu] if cpu is not None else list(backends.values())
    return {flag for flags in chosen for flag, value in flags.items() if value not in ("", "0")}


def cpu_flags(probe_result: ProbeResult) -> set[str]:
    """Return the SIMD system-info flags whose code paths this CPU can execute."""
    features = probe_result["features"]
    arch = probe_result["arch"]
    return {
        flag
        for flag, needs in SYSTEM_INFO_NEEDS.items()
        if _FLAG_ARCH[flag] == arch and all(features.get(need, False) for need in needs)
    }


def diagnose(
    probe_result: ProbeResult,
    installed_profile: str | None,
    system_info: str,
    *,
    venv: str = ".venv",
    profiles: Sequence[Profile] | None = None,
) -> Diagnosis:
    """Report missing SIMD paths, crash risks and whether probe, profile and engine agree.

    `installed_profile` is the profile recorded when the engine was installed
    (None if unknown); `venv` is only used to spell out rebuild commands.
    """
    candidates = load_profiles() if profiles is None else profiles
    recommended = select_profile(probe_result, candidates)
    command = rebuild_command(recommended.name, venv)
    built = engine_flags(system_info)
    usable = cpu_flags(probe_result)
    features = probe_result["features"]

    crash_risks = _crash_risks(built, usable, features, command)
    missing_paths = _missing_paths(built, usable, recommended, command)
    engine_matches_profile = _engine_matches_profile(_known_profile(installed_profile, candidates), built)
    agreement: Agreement = {
        "probe_profile": recommended.name,
        "installed_profile": installed_profile,
        "installed_is_recommended": installed_profile == recommended.name,
        "engine_matches_profile": engine_matches_profile,
        "engine_safe_on_cpu": not crash_risks,
    }
    agree = bool(agreement["installed_is_recommended"] and engine_matches_profile and not crash_risks)
    verdict = _verdict(crash_risks, missing_paths, agree)

    return {
        "verdict": verdict,
        "agree": agree,
        "agreement": agreement,
        "arch": probe_result["arch"],
        "probe_source": probe_result["source"],
        "cpu": {"simd_paths": [flag for flag in SIMD_FLAGS if flag in usable], "flags": sorted(usable)},
        "engine": {"simd_paths": [flag for flag in SIMD_FLAGS if flag in built], "flags": sorted(built)},
        "missing_paths": missing_paths,
        "crash_risks": crash_risks,
        "recommended_profile": recommended.name,
        "rebuild_command": command if verdict != "ok" else None,
        "messages": _messages(verdict, recommended, installed_profile, crash_risks, missing_paths, command),
    }


def _crash_risks(built: set[str], usable: set[str], features: dict[str, bool], command: str) -> list[CrashRisk]:
    """The engine's SIMD paths that this CPU cannot execute, in system-info order."""
    return [
        {
            "flag": flag,
            "cpu_lacks": [need for need in SYSTEM_INFO_NEEDS[flag] if not features.get(need, False)],
            "reason": _crash_reason(flag),
            "command": command,
        }
        for flag in SIMD_FLAGS
        if flag in built and flag not in usable
    ]


def _missing_paths(built: set[str], usable: set[str], recommended: Profile, command: str) -> list[MissingPath]:
    """The CPU's SIMD paths worth adding that the engine lacks, with the profile that adds each (if any)."""
    return [
        {
            "flag": flag,
            "fixed_by_profile": recommended.name if flag in recommended.expected_system_info else None,
            "command": command if flag in recommended.expected_system_info else None,
        }
        for flag in SIMD_FLAGS
        if flag in usable and flag not in built and _worth_adding(flag, built, recommended)
    ]


def _engine_matches_profile(installed: Profile | None, built: set[str]) -> bool | None:
    """Whether the engine has every path of the installed profile and none it needs; None if the profile is unknown."""
    if installed is None:
        return None
    expected = set(installed.expected_system_info)
    allowed = {flag for flag, needs in SYSTEM_INFO_NEEDS.items() if set(needs) <= set(installed.requires)}
    extra = {flag for flag in built if flag in SYSTEM_INFO_NEEDS} - allowed
    return expected <= built and not extra


def _verdict(crash_risks: list[CrashRisk], missing_paths: list[MissingPath], agree: bool) -> str:
    """The verdict: crash-risk, suboptimal, mismatch or ok, whichever applies first."""
    if crash_risks:
        return "crash-risk"
    if any(path["fixed_by_profile"] for path in missing_paths):
        return "suboptimal"
    if not agree:
        return "mismatch"
    return "ok"


def _worth_adding(flag: str, built: set[str], recommended: Profile) -> bool:
    covering = _COVERED_BY.get(flag)
    if covering is not None and (covering in built or covering in recommended.expected_system_info):
        return False
    # AMX is opt-in (upstream segfaults), so a build without it is not "missing" it
    # unless the user chose the AMX profile.
    return flag != "AMX_INT8" or flag in recommended.expected_system_info


def _known_profile(name: str | None, profiles: Sequence[Profile]) -> Profile | None:
    if name is None:
        return None
    try:
        return get_profile(name, profiles)
    except ProfileError:
        return None


def _crash_reason(flag: str) -> str:
    if flag == "AMX_INT8":
        return (
            "the engine has ggml's AMX path but this CPU/OS cannot use AMX tiles (amx_usable is false); "
            "such builds crash with SIGSEGV in ggml_backend_amx_mul_mat on the first multi-token prompt"
        )
    return f"the engine was compiled with {flag} instructions this CPU lacks; it dies with SIGILL"


def _messages(
    verdict: str,
    recommended: Profile,
    installed_profile: str | None,
    crash_risks: list[CrashRisk],
    missing_paths: list[MissingPath],
    command: str,
) -> list[str]:
    messages: list[str] = []
    for risk in crash_risks:
        messages.append(f"{risk['flag']}: {risk['reason']}")
    fixable = [path["flag"] for path in missing_paths if path["fixed_by_profile"]]
    if fixable:
        messages.append(f"the CPU supports {', '.join(fixable)} but the engine was built without them")
    unfixable = [path["flag"] for path in missing_paths if not path["fixed_by_profile"]]
    if unfixable:
        messages.append(f"no LiveMind profile enables {', '.join(unfixable)} yet")
    if installed_profile is None:
        messages.append("the installed engine has no LiveMind profile record (not installed by native.build)")
    elif installed_profile != recommended.name:
        messages.append(f"installed profile {installed_profile}, but this CPU's profile is {recommended.name}")
    if verdict == "ok":
        messages.append(f"engine, profile {recommended.name} and CPU agree")
    else:
        messages.append(f"fix: {command}")
    return messages
