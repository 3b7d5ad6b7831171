"""The ARM engine under emulation: tools/arm-check.sh end to end (opt-in: `-m arm` or LIVEMIND_ARM_CHECK=1).

It cross-builds two wheels (about 5 min each on 2 cores the first time; cached afterwards), so it
is not part of the default suite. What it proves: an aarch64 build of the engine for each Neoverse
profile loads SmolLM2 and decodes under qemu-aarch64, its llama_print_system_info shows the
profile's SIMD paths, cpuprobe and `livemind doctor` inside the emulated venv agree on the
profile, and the greedy tokens are compared with this machine's own build.
"""

import json
import os
import platform
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.arm, pytest.mark.models]


@pytest.mark.skipif(platform.machine() != "x86_64", reason="emulates aarch64 from an x86_64 host")
def test_arm_check_builds_both_neoverse_engines_and_they_decode_under_qemu(tmp_path: Path, models_home: Path) -> None:
    report_path = tmp_path / "arm-check.json"
    completed = subprocess.run(
        [str(REPO_ROOT / "tools" / "arm-check.sh"), "--tokens", "32"],
        env={**os.environ, "ARM_CHECK_OUT": str(report_path), "LIVEMIND_HOME": str(models_home)},
        capture_output=True,
        text=True,
        timeout=3 * 3600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads(report_path.read_text())
    cases = {(case["profile"], case["cpu"]): case for case in report["cases"]}
    v2_128 = ("neoverse-v2", "max,sve-default-vector-length=16")
    assert set(cases) == {("neoverse-n1", "neoverse-n1"), ("neoverse-v2", "max"), v2_128, ("neoverse-n1", "max")}
    n1, v2 = cases["neoverse-n1", "neoverse-n1"], cases["neoverse-v2", "max"]
    for case in cases.values():
        assert case["ok"], case["problems"]
        assert "NEON = 1" in case["system_info"] and "DOTPROD = 1" in case["system_info"]
        assert case["doctor"]["arch"] == "aarch64" and case["doctor"]["probe_source"] == "auxv"
        assert case["doctor"]["installed_profile"] == case["profile"]
        assert case["doctor"]["recommended_profile"] == case["probe_profile"]
        assert case["tokens_compared"] == 32
    assert "SVE = 1" in v2["system_info"] and "MATMUL_INT8 = 1" in v2["system_info"]
    assert "SVE = 1" not in n1["system_info"] and "SVE_CNT = 16" in cases[v2_128]["system_info"]
    assert n1["probe"]["features"]["sve"] is False and v2["probe"]["features"]["sve2"] is True
