"""The CPU probe: cpuprobe.c on this machine, its cache, and the /proc/cpuinfo fallback."""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from livemind_native.probe import (
    AARCH64_CPUINFO_FEATURES,
    AARCH64_HWCAP_BITS,
    ProbeResult,
    compile_probe,
    normalize_arch,
    parse_auxv,
    parse_cpuinfo,
    probe,
)
from livemind_native.profiles import select_profile

REPO_ROOT = Path(__file__).resolve().parents[2]
AMX_FEATURES = {"amx_tile", "amx_int8", "amx_bf16", "amx_usable"}


def test_probe_compiles_and_runs_cpuprobe_on_this_machine(host_probe: ProbeResult) -> None:
    assert host_probe["source"] == "cpuprobe", host_probe.get("note")
    assert host_probe["arch"] == normalize_arch(platform.machine())
    assert "note" not in host_probe
    assert host_probe["features"], "the probe reported no features at all"


def test_probe_agrees_with_proc_cpuinfo_flags(host_probe: ProbeResult, host_cpuinfo: ProbeResult) -> None:
    probed = host_probe["features"]
    kernel = host_cpuinfo["features"]
    if host_probe["arch"] == "x86_64":
        assert {"avx", "avx2", "fma", "f16c", "avx512f", "avx512vnni", "avx512bf16", "avx512vbmi"} <= kernel.keys()
    compared = sorted(kernel.keys() - AMX_FEATURES)
    assert {name: probed[name] for name in compared} == {name: kernel[name] for name in compared}
    # The kernel hides AMX flags it will not support; CPUID may still advertise them.
    for name in ("amx_tile", "amx_int8", "amx_bf16"):
        if kernel.get(name):
            assert probed[name], f"/proc/cpuinfo lists {name} but cpuprobe does not"


def test_this_machine_gets_the_same_profile_from_cpuprobe_and_from_proc_cpuinfo(
    host_probe: ProbeResult, host_cpuinfo: ProbeResult
) -> None:
    assert select_profile(host_probe).name == select_profile(host_cpuinfo).name


def test_probe_reports_the_same_feature_names_as_the_fallback(host_probe: ProbeResult, host_cpuinfo: ProbeResult) -> None:
    assert list(host_probe["features"]) == list(host_cpuinfo["features"])


def test_amx_is_usable_only_when_advertised(host_probe: ProbeResult) -> None:
    features = host_probe["features"]
    if host_probe["arch"] != "x86_64":
        pytest.skip("AMX is an x86 feature")
    assert not features["amx_usable"] or features["amx_tile"]
    assert "xcr0" in host_probe["detail"]


def test_probe_reuses_the_cached_binary_while_the_source_is_unchanged(tmp_path: Path) -> None:
    first = compile_probe(tmp_path)
    modified = first.stat().st_mtime_ns
    # No compiler is needed the second time: the binary is found by the source's hash.
    second = compile_probe(tmp_path, compiler="/nonexistent/cc")
    assert second == first
    assert second.stat().st_mtime_ns == modified
    assert [path.name for path in tmp_path.iterdir()] == [first.name]


def test_probe_falls_back_to_proc_cpuinfo_without_a_compiler(tmp_path: Path, host_cpuinfo: ProbeResult) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    completed = subprocess.run(
        [sys.executable, "-S", "-m", "native.probe", "--cache-dir", str(tmp_path / "cache")],
        cwd=REPO_ROOT,
        env={**os.environ, "PATH": str(empty_bin)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(completed.stdout)
    assert result["source"] == "proc-cpuinfo"
    assert "no C compiler" in result["note"]
    assert result["features"] == host_cpuinfo["features"]


def test_probe_falls_back_when_the_compiler_fails(tmp_path: Path, host_cpuinfo: ProbeResult) -> None:
    failing = tmp_path / "broken-cc"
    failing.write_text("#!/bin/sh\necho 'cc1: internal compiler error' >&2\nexit 4\n")
    failing.chmod(0o755)
    result = probe(tmp_path / "cache", compiler=str(failing))
    assert result["source"] == "proc-cpuinfo"
    assert "failed: cc1: internal compiler error" in result["note"]
    assert result["features"] == host_cpuinfo["features"]


def test_a_probe_binary_answering_for_another_architecture_is_refused(tmp_path: Path, host_cpuinfo: ProbeResult) -> None:
    # What happens to an aarch64 Python under qemu-user that finds the host's x86 gcc on PATH: the
    # "compiler" leaves a program that runs natively and answers for the other architecture.
    other = "aarch64" if host_cpuinfo["arch"] != "aarch64" else "x86_64"
    answer = tmp_path / "answer.sh"
    answer.write_text("#!/bin/sh\necho '" + json.dumps({"arch": other, "features": {}}) + "'\n")
    liar = tmp_path / "cross-cc"
    liar.write_text(f'#!/bin/sh\nwhile [ "$1" != "-o" ]; do shift; done\ncp {answer} "$2"\n')
    liar.chmod(0o755)
    result = probe(tmp_path / "cache", compiler=str(liar))
    assert result["arch"] == host_cpuinfo["arch"]
    assert f"reports {other} but this Python runs as {host_cpuinfo['arch']}" in result["note"]
    assert result["features"] == host_cpuinfo["features"]


def _auxv(pairs: list[tuple[int, int]]) -> bytes:
    return b"".join(key.to_bytes(8, sys.byteorder) + value.to_bytes(8, sys.byteorder) for key, value in [*pairs, (0, 0)])


def test_auxv_words_give_the_same_features_as_cpuprobes_bits(tmp_path: Path) -> None:
    # Neoverse V2's words as the kernel (or qemu -cpu max) hands them over: every bit cpuprobe.c reads.
    hwcap = 1 << 1 | 1 << 9 | 1 << 10 | 1 << 20 | 1 << 22
    hwcap2 = 1 << 1 | 1 << 9 | 1 << 13 | 1 << 14
    auxv = tmp_path / "auxv"
    auxv.write_bytes(_auxv([(6, 4096), (16, hwcap), (26, hwcap2), (99, 1 << 37)]))
    result = parse_auxv(auxv)
    assert result is not None and result["source"] == "auxv"
    assert result["features"] == {name: name not in ("sme", "sme2") for name in AARCH64_HWCAP_BITS}
    assert set(AARCH64_HWCAP_BITS) == set(AARCH64_CPUINFO_FEATURES)
    assert result["detail"] == {"hwcap": f"0x{hwcap:x}", "hwcap2": f"0x{hwcap2:x}"}
    assert select_profile(result).name == "neoverse-v2"


def test_auxv_without_hwcap_or_unreadable_gives_none(tmp_path: Path) -> None:
    auxv = tmp_path / "auxv"
    auxv.write_bytes(_auxv([(6, 4096)]))
    assert parse_auxv(auxv) is None
    assert parse_auxv(tmp_path / "missing") is None


def test_probe_falls_back_when_the_cache_dir_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    result = probe(blocker / "probe")
    assert result["source"] == "proc-cpuinfo"
    assert f"cannot write the probe binary to {blocker / 'probe'}" in result["note"]


def test_fallback_reads_the_features_line_of_an_aarch64_cpuinfo(tmp_path: Path) -> None:
    graviton3 = tmp_path / "cpuinfo"
    graviton3.write_text(
        "processor\t: 0\nBogoMIPS\t: 2100.00\n"
        "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm "
        "jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs "
        "paca pacg dcpodp svei8mm svebf16 i8mm bf16 dgh rng\n"
        "CPU implementer\t: 0x41\nCPU part\t: 0xd40\n"
    )
    result = parse_cpuinfo(graviton3, machine="aarch64")
    assert list(result["features"]) == list(AARCH64_CPUINFO_FEATURES)
    assert {name for name, present in result["features"].items() if present} == {
        "asimd", "fphp", "asimdhp", "asimddp", "i8mm", "sve", "svei8mm", "bf16",
    }  # fmt: skip
    assert select_profile(result).name == "neoverse-v1"


def test_fallback_says_why_when_cpuinfo_is_unreadable(tmp_path: Path) -> None:
    result = parse_cpuinfo(tmp_path / "missing", machine="x86_64")
    assert result["features"] == {}
    assert "could not read" in result["note"]
    assert select_profile(result).name == "generic"


def test_native_layer_imports_with_the_standard_library_alone() -> None:
    modules = ["probe", "profiles", "build", "smoke", "diagnosis", "marker", "progress", "home", "errors"]
    code = "; ".join(f"import native.{module}" for module in modules)
    # -S drops site-packages: what imports here runs on a bare system python3.
    completed = subprocess.run([sys.executable, "-S", "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
