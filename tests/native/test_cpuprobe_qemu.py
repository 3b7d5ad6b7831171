"""cpuprobe.c cross-compiled for aarch64 and run under qemu-user with different CPU models."""

from pathlib import Path

import pytest
from livemind_native.probe import run_probe
from livemind_native.profiles import select_profile

# qemu CPU model -> (features that must be true, features that must be false, chosen profile)
QEMU_CPUS = {
    "max": (("asimd", "asimddp", "i8mm", "sve", "sve2", "bf16"), (), "neoverse-v2"),
    "neoverse-n1": (("asimd", "asimdhp", "asimddp"), ("sve", "sve2", "i8mm", "bf16"), "neoverse-n1"),
    "cortex-a53": (("asimd",), ("asimddp", "asimdhp", "sve", "i8mm"), "generic"),
    # SVE without the dot-product extension: no ARM profile fits, so generic NEON.
    "a64fx": (("asimd", "sve"), ("asimddp", "i8mm"), "generic"),
}


@pytest.mark.parametrize("cpu_model", list(QEMU_CPUS))
def test_cpuprobe_under_qemu_reports_the_cpu_models_features_and_picks_its_profile(
    cpu_model: str, aarch64_probe: Path, aarch64_toolchain: tuple[str, str]
) -> None:
    _, emulator = aarch64_toolchain
    present, absent, profile = QEMU_CPUS[cpu_model]
    result = run_probe(aarch64_probe, runner=(emulator, "-cpu", cpu_model))
    assert result["arch"] == "aarch64"
    assert result["source"] == "cpuprobe"
    features = result["features"]
    assert {name: features[name] for name in present} == dict.fromkeys(present, True)
    assert {name: features[name] for name in absent} == dict.fromkeys(absent, False)
    assert select_profile(result).name == profile


def test_cpuprobe_reports_the_raw_hwcap_words_under_qemu(aarch64_probe: Path, aarch64_toolchain: tuple[str, str]) -> None:
    _, emulator = aarch64_toolchain
    result = run_probe(aarch64_probe, runner=(emulator, "-cpu", "cortex-a53"))
    hwcap = int(str(result["detail"]["hwcap"]), 16)
    assert hwcap & (1 << 1), "HWCAP_ASIMD must be set on cortex-a53"
    assert not hwcap & (1 << 20), "HWCAP_ASIMDDP must be clear on cortex-a53"
