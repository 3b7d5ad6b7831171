"""Build profiles: selection per CPU family, their CMAKE_ARGS, and what those flags compile to."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from livemind_native.diagnosis import SYSTEM_INFO_NEEDS
from livemind_native.errors import ProfileError
from livemind_native.probe import ProbeResult
from livemind_native.profiles import (
    Profile,
    explain_selection,
    fallback_profile,
    fit_problems,
    get_profile,
    load_profiles,
    rebuild_command,
    select_profile,
)

NOAMX_CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON "
    "-DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AVX512_VBMI=ON -DGGML_AMX_TILE=OFF "
    "-DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
)

EXPECTED_PROFILE = {
    "graviton4": "neoverse-v2",
    "graviton3": "neoverse-v1",
    "graviton2": "neoverse-n1",
    "arm-dotprod-no-fp16": "armv8.2-dotprod",
    "cortex-a72": "generic",
    "xeon-spr-amx-unusable": "x86_64-avx512-noamx",
    "xeon-spr-amx-usable": "x86_64-avx512-noamx",
    "epyc-zen4": "x86_64-avx512-noamx",
    "xeon-icelake": "x86_64-avx512",
    "epyc-zen3": "x86_64-avx2",
    "x86-sse-only": "generic",
    "riscv64": "generic",
}

# ggml/src/ggml-cpu/CMakeLists.txt: GGML_<option>=ON adds these gcc flags when GGML_NATIVE=OFF.
GGML_X86_GCC_FLAGS = {
    "SSE42": ["-msse4.2"],
    "F16C": ["-mf16c"],
    "FMA": ["-mfma"],
    "BMI2": ["-mbmi2"],
    "AVX": ["-mavx"],
    "AVX2": ["-mavx2"],
    "AVX_VNNI": ["-mavxvnni"],
    "AVX512": ["-mavx512f", "-mavx512cd", "-mavx512vl", "-mavx512dq", "-mavx512bw"],
    "AVX512_VBMI": ["-mavx512vbmi"],
    "AVX512_VNNI": ["-mavx512vnni"],
    "AVX512_BF16": ["-mavx512bf16"],
    "AMX_TILE": ["-mamx-tile"],
    "AMX_INT8": ["-mamx-int8"],
    "AMX_BF16": ["-mamx-bf16"],
}
# ggml/CMakeLists.txt: these default to ON for GGML_NATIVE=OFF on a native build (INS_ENB).
GGML_X86_DEFAULT_ON = {"SSE42", "AVX", "AVX2", "BMI2", "FMA", "F16C"}
# ggml-cpu.c: ggml_cpu_has_<x>() tests these predefined macros; the names are the system-info flags.
SYSTEM_INFO_MACROS = {
    "__SSE3__": "SSE3",
    "__SSSE3__": "SSSE3",
    "__AVX__": "AVX",
    "__AVXVNNI__": "AVX_VNNI",
    "__AVX2__": "AVX2",
    "__F16C__": "F16C",
    "__FMA__": "FMA",
    "__BMI2__": "BMI2",
    "__AVX512F__": "AVX512",
    "__AVX512VBMI__": "AVX512_VBMI",
    "__AVX512VNNI__": "AVX512_VNNI",
    "__AVX512BF16__": "AVX512_BF16",
    "__AMX_INT8__": "AMX_INT8",
    "__ARM_NEON": "NEON",
    "__ARM_FEATURE_FMA": "ARM_FMA",
    "__ARM_FEATURE_FP16_VECTOR_ARITHMETIC": "FP16_VA",
    "__ARM_FEATURE_MATMUL_INT8": "MATMUL_INT8",
    "__ARM_FEATURE_SVE": "SVE",
    "__ARM_FEATURE_DOTPROD": "DOTPROD",
    "__ARM_FEATURE_SME": "SME",
}


def compiled_flags(compiler: str, flags: list[str]) -> set[str]:
    """System-info flags that a ggml compiled with these compiler flags would report."""
    completed = subprocess.run(
        [compiler, *flags, "-dM", "-E", "-x", "c", "/dev/null"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    defined = {line.split()[1] for line in completed.stdout.splitlines() if line.startswith("#define ")}
    return {flag for macro, flag in SYSTEM_INFO_MACROS.items() if macro in defined}


def ggml_options(profile: Profile) -> dict[str, bool]:
    options = {name: name in GGML_X86_DEFAULT_ON for name in GGML_X86_GCC_FLAGS}
    for arg in profile.cmake_args:
        match = re.fullmatch(r"-DGGML_(\w+)=(ON|OFF)", arg)
        if match and match.group(1) in options:
            options[match.group(1)] = match.group(2) == "ON"
    return options


def flags_allowed_by(profile: Profile) -> set[str]:
    return {flag for flag, needs in SYSTEM_INFO_NEEDS.items() if set(needs) <= set(profile.requires)}


@pytest.mark.parametrize("cpu", list(EXPECTED_PROFILE))
def test_select_profile_picks_the_most_specific_profile_for_each_cpu_family(
    cpu: str, sample_cpus: dict[str, ProbeResult]
) -> None:
    assert select_profile(sample_cpus[cpu]).name == EXPECTED_PROFILE[cpu]


def test_xeon_with_advertised_but_unusable_amx_gets_avx512_without_amx(
    sample_cpus: dict[str, ProbeResult],
) -> None:
    chosen = select_profile(sample_cpus["xeon-spr-amx-unusable"])
    assert chosen.name == "x86_64-avx512-noamx"
    assert " ".join(chosen.cmake_args) == NOAMX_CMAKE_ARGS
    assert "AMX_INT8" not in chosen.expected_system_info
    assert get_profile("x86_64-amx").missing_features(sample_cpus["xeon-spr-amx-unusable"]) == ["amx_usable"]


def test_amx_profile_is_opt_in_even_where_amx_is_usable(sample_cpus: dict[str, ProbeResult]) -> None:
    xeon = sample_cpus["xeon-spr-amx-usable"]
    amx = get_profile("x86_64-amx")
    assert amx.fits(xeon)
    assert not amx.auto_select
    assert "x86_64-amx: CPU fits, but opt-in only (--profile x86_64-amx)" in explain_selection(xeon)


def test_explain_selection_names_the_missing_features_and_ends_at_the_choice(
    sample_cpus: dict[str, ProbeResult],
) -> None:
    lines = explain_selection(sample_cpus["epyc-zen3"])
    assert lines[0].startswith("x86_64-amx: skipped, CPU lacks avx512f")
    assert lines[-1] == "x86_64-avx2: chosen, CPU has sse3, ssse3, sse4_2, avx, avx2, fma, f16c, bmi2"
    assert not any(line.startswith("neoverse") for line in lines)


def test_profiles_run_from_most_to_least_specific() -> None:
    profiles = load_profiles()
    assert profiles[-1].name == "generic"
    assert profiles[-1].requires == ()
    for index, earlier in enumerate(profiles):
        for later in profiles[index + 1 :]:
            same_arch = later.arch in (earlier.arch, "any")
            assert not (same_arch and set(later.requires) > set(earlier.requires)), (
                f"{later.name} is more specific than {earlier.name} but comes after it"
            )


def test_every_profile_turns_off_native_detection_and_names_https_sources() -> None:
    for profile in load_profiles():
        assert "-DGGML_NATIVE=OFF" in profile.cmake_args, profile.name
        assert profile.sources and all(source.startswith("https://") for source in profile.sources)
        if profile.arch == "aarch64":
            assert any(arg.startswith("-DGGML_CPU_ARM_ARCH=") for arg in profile.cmake_args), profile.name


def test_a_profile_file_without_ggml_native_off_is_rejected(tmp_path: Path) -> None:
    broken = tmp_path / "profiles.toml"
    broken.write_text(
        '[[profile]]\nname = "bad"\narch = "x86_64"\ndescription = "d"\ncpus = []\nrequires = []\n'
        'cmake_args = ["-DGGML_AVX2=ON"]\nkleidiai_args = []\nexpected_system_info = []\n'
        "auto_select = true\nsources = []\n"
    )
    with pytest.raises(ProfileError, match="must set -DGGML_NATIVE=OFF"):
        load_profiles(broken)


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ProfileError, match=r"unknown build profile 'avx9000'.*x86_64-avx2"):
        get_profile("avx9000")


def test_kleidiai_is_a_separate_arm_only_variant() -> None:
    v2 = get_profile("neoverse-v2")
    assert "-DGGML_CPU_KLEIDIAI=ON" not in v2.cmake_args
    assert v2.cmake_args_for(kleidiai=True)[-1] == "-DGGML_CPU_KLEIDIAI=ON"
    assert v2.build_name(kleidiai=True) == "neoverse-v2-kleidiai"
    assert "KLEIDIAI" in v2.expected_flags(kleidiai=True)
    with pytest.raises(ProfileError, match="no KleidiAI variant"):
        get_profile("x86_64-avx2").cmake_args_for(kleidiai=True)


def test_fallback_after_a_crash_steps_down_one_profile(sample_cpus: dict[str, ProbeResult]) -> None:
    xeon = sample_cpus["xeon-spr-amx-usable"]
    assert fallback_profile(xeon, "x86_64-amx").name == "x86_64-avx512-noamx"
    assert fallback_profile(xeon, "x86_64-avx512-noamx").name == "x86_64-avx512"
    # A profile that never fitted this CPU is replaced by the best fit, not the next one down.
    assert fallback_profile(sample_cpus["epyc-zen3"], "x86_64-avx512-noamx").name == "x86_64-avx2"
    assert fallback_profile(sample_cpus["graviton3"], "neoverse-v1").name == "neoverse-n1"
    assert fallback_profile(sample_cpus["cortex-a72"], "generic").name == "generic"


def test_fit_problems_explain_why_a_profile_cannot_run(sample_cpus: dict[str, ProbeResult]) -> None:
    assert fit_problems(get_profile("neoverse-v2"), sample_cpus["epyc-zen3"]) == [
        "profile neoverse-v2 is for aarch64, this CPU is x86_64"
    ]
    assert fit_problems(get_profile("neoverse-v1"), sample_cpus["graviton2"]) == [
        "profile neoverse-v1 needs i8mm, sve, bf16, which this CPU lacks"
    ]
    assert fit_problems(get_profile("generic"), sample_cpus["riscv64"]) == []


def test_rebuild_command_is_a_complete_shell_command() -> None:
    assert rebuild_command("x86_64-avx2", ".venv") == ("python3 -m native.build --venv .venv --profile x86_64-avx2 --rebuild")


@pytest.mark.parametrize("name", [p.name for p in load_profiles() if p.arch == "aarch64"])
def test_arm_profile_march_compiles_to_exactly_its_expected_system_info(name: str, aarch64_toolchain: tuple[str, str]) -> None:
    compiler, _ = aarch64_toolchain
    profile = get_profile(name)
    (march,) = [arg.split("=", 1)[1] for arg in profile.cmake_args if arg.startswith("-DGGML_CPU_ARM_ARCH=")]
    flags = compiled_flags(compiler, [f"-march={march}"])
    assert flags == set(profile.expected_system_info)
    # Never compile in a path that the profile's required features do not guarantee.
    assert flags <= flags_allowed_by(profile)


@pytest.mark.parametrize("name", [p.name for p in load_profiles() if p.arch in ("x86_64", "any")])
def test_x86_profile_options_compile_to_exactly_the_paths_its_cpus_have(name: str) -> None:
    compiler = shutil.which("x86_64-linux-gnu-gcc") or shutil.which("gcc")
    probe_target = subprocess.run([compiler or "gcc", "-dumpmachine"], capture_output=True, text=True).stdout
    if compiler is None or not probe_target.startswith("x86_64"):
        pytest.skip("needs a gcc that targets x86_64")
    profile = get_profile(name)
    options = ggml_options(profile)
    gcc_flags = [flag for option, on in options.items() if on for flag in GGML_X86_GCC_FLAGS[option]]
    flags = compiled_flags(compiler, gcc_flags)
    assert set(profile.expected_system_info) <= flags
    assert flags <= flags_allowed_by(profile)
