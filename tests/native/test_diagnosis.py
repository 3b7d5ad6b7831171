"""Diagnosis: engine flags from llama_print_system_info() against the CPU and the chosen profile."""

import json

from livemind_native.diagnosis import diagnose, engine_flags, parse_system_info
from livemind_native.probe import ProbeResult

# Shapes of real llama_print_system_info() strings from llama-cpp-python 0.3.x builds.
AVX512_NOAMX_BUILD = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 1 | "
    "AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)
AVX2_BUILD = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)
NATIVE_AMX_BUILD = AVX512_NOAMX_BUILD.replace("AVX512_BF16 = 1 |", "AVX512_BF16 = 1 | AMX_INT8 = 1 |")
N1_BUILD = "CPU : NEON = 1 | ARM_FMA = 1 | FP16_VA = 1 | DOTPROD = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
V2_KLEIDIAI_BUILD = (
    "CPU : NEON = 1 | ARM_FMA = 1 | FP16_VA = 1 | MATMUL_INT8 = 1 | SVE = 1 | DOTPROD = 1 | SVE_CNT = 16 | "
    "OPENMP = 1 | KLEIDIAI = 1 | REPACK = 1 | "
)


def test_parse_system_info_splits_backends_and_flags() -> None:
    parsed = parse_system_info(V2_KLEIDIAI_BUILD + "Metal : EMBED_LIBRARY = 1 | ")
    assert parsed["CPU"]["SVE_CNT"] == "16"
    assert parsed["CPU"]["KLEIDIAI"] == "1"
    assert parsed["Metal"] == {"EMBED_LIBRARY": "1"}


def test_parse_system_info_reads_the_older_format_without_backend_names() -> None:
    legacy = "AVX = 1 | AVX_VNNI = 0 | AVX2 = 1 | AVX512 = 0 | NEON = 0 | "
    assert parse_system_info(legacy) == {"": {"AVX": "1", "AVX_VNNI": "0", "AVX2": "1", "AVX512": "0", "NEON": "0"}}
    assert engine_flags(legacy) == {"AVX", "AVX2"}


def test_avx2_only_build_on_an_avx512_cpu_lists_the_missing_paths_with_the_rebuild_command(
    sample_cpus: dict[str, ProbeResult],
) -> None:
    report = diagnose(sample_cpus["xeon-spr-amx-unusable"], "x86_64-avx2", AVX2_BUILD)
    command = "python3 -m native.build --venv .venv --profile x86_64-avx512-noamx --rebuild"
    assert report["verdict"] == "suboptimal"
    assert report["missing_paths"] == [
        {"flag": flag, "fixed_by_profile": "x86_64-avx512-noamx", "command": command}
        for flag in ("AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16")
    ]
    assert report["crash_risks"] == []
    assert report["agree"] is False
    assert report["agreement"]["installed_is_recommended"] is False
    assert report["rebuild_command"] == command


def test_amx_int8_build_on_a_cpu_with_unusable_amx_is_flagged_as_a_crash(
    sample_cpus: dict[str, ProbeResult],
) -> None:
    report = diagnose(sample_cpus["xeon-spr-amx-unusable"], None, NATIVE_AMX_BUILD, venv="/srv/lm/.venv")
    assert report["verdict"] == "crash-risk"
    (risk,) = report["crash_risks"]
    assert risk["flag"] == "AMX_INT8"
    assert risk["cpu_lacks"] == ["amx_usable"]
    assert "ggml_backend_amx_mul_mat" in risk["reason"]
    assert risk["command"] == "python3 -m native.build --venv /srv/lm/.venv --profile x86_64-avx512-noamx --rebuild"
    assert report["agreement"]["engine_safe_on_cpu"] is False


def test_avx512_build_on_an_avx2_cpu_is_flagged_as_sigill(sample_cpus: dict[str, ProbeResult]) -> None:
    report = diagnose(sample_cpus["epyc-zen3"], "x86_64-avx512-noamx", AVX512_NOAMX_BUILD)
    assert report["verdict"] == "crash-risk"
    assert [risk["flag"] for risk in report["crash_risks"]] == ["AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16"]
    assert all("SIGILL" in risk["reason"] for risk in report["crash_risks"])
    assert report["recommended_profile"] == "x86_64-avx2"
    # The engine is what its profile promised; the profile is what does not fit this CPU.
    assert report["agreement"]["engine_matches_profile"] is True


def test_matching_cpu_profile_and_engine_agree(sample_cpus: dict[str, ProbeResult]) -> None:
    report = diagnose(sample_cpus["xeon-spr-amx-unusable"], "x86_64-avx512-noamx", AVX512_NOAMX_BUILD)
    assert report["verdict"] == "ok"
    assert report["agree"] is True
    assert report["missing_paths"] == []
    assert report["rebuild_command"] is None
    assert report["messages"] == ["engine, profile x86_64-avx512-noamx and CPU agree"]


def test_engine_without_a_profile_record_does_not_count_as_agreeing(sample_cpus: dict[str, ProbeResult]) -> None:
    report = diagnose(sample_cpus["epyc-zen3"], None, AVX2_BUILD)
    assert report["verdict"] == "mismatch"
    assert report["agreement"]["engine_matches_profile"] is None
    assert any("no LiveMind profile record" in message for message in report["messages"])


def test_engine_with_paths_beyond_its_profile_does_not_match_it(sample_cpus: dict[str, ProbeResult]) -> None:
    report = diagnose(sample_cpus["xeon-spr-amx-unusable"], "x86_64-avx2", AVX512_NOAMX_BUILD)
    assert report["agreement"]["engine_matches_profile"] is False
    assert report["verdict"] == "mismatch"


def test_n1_build_on_graviton4_misses_i8mm_and_sve(sample_cpus: dict[str, ProbeResult]) -> None:
    report = diagnose(sample_cpus["graviton4"], "neoverse-n1", N1_BUILD)
    assert [path["flag"] for path in report["missing_paths"]] == ["MATMUL_INT8", "SVE"]
    assert {path["fixed_by_profile"] for path in report["missing_paths"]} == {"neoverse-v2"}
    assert report["verdict"] == "suboptimal"


def test_kleidiai_build_on_graviton4_agrees_and_ignores_non_simd_flags(sample_cpus: dict[str, ProbeResult]) -> None:
    report = diagnose(sample_cpus["graviton4"], "neoverse-v2", V2_KLEIDIAI_BUILD)
    assert report["verdict"] == "ok"
    assert "KLEIDIAI" in report["engine"]["flags"]
    assert report["engine"]["simd_paths"] == ["NEON", "ARM_FMA", "FP16_VA", "MATMUL_INT8", "SVE", "DOTPROD"]


def test_diagnosis_is_plain_json(sample_cpus: dict[str, ProbeResult]) -> None:
    report = diagnose(sample_cpus["graviton2"], "generic", "CPU : NEON = 1 | ARM_FMA = 1 | ")
    assert json.loads(json.dumps(report)) == report
