"""The cross build's wheel handling: retagging for aarch64 and refusing a host build with a wrong name."""

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest
from livemind_native.cross import EM_AARCH64, cross_cmake_args, elf_machine, retag_wheel
from livemind_native.errors import BuildError
from livemind_native.profiles import get_profile

EM_X86_64 = 62


def _elf(machine: int) -> bytes:
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[4], header[5] = 2, 1  # 64-bit, little-endian
    header[18:20] = machine.to_bytes(2, "little")
    return bytes(header)


def _wheel(directory: Path, machine: int) -> Path:
    wheel = directory / "llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl"
    meta = "Wheel-Version: 1.0\nGenerator: scikit-build-core\nRoot-Is-Purelib: false\nTag: py3-none-linux_x86_64\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("llama_cpp/__init__.py", "")
        archive.writestr("llama_cpp/lib/libllama.so", _elf(machine))
        archive.writestr("llama_cpp_python-0.3.36.dist-info/WHEEL", meta)
        archive.writestr("llama_cpp_python-0.3.36.dist-info/RECORD",
                         "llama_cpp/__init__.py,,0\nllama_cpp_python-0.3.36.dist-info/WHEEL,sha256=old,1\n"
                         "llama_cpp_python-0.3.36.dist-info/RECORD,,\n")
    return wheel


def test_an_aarch64_build_is_retagged_with_a_record_that_matches(tmp_path: Path) -> None:
    retagged = retag_wheel(_wheel(tmp_path, EM_AARCH64))
    assert retagged.name == "llama_cpp_python-0.3.36-py3-none-linux_aarch64.whl"
    assert [path.name for path in tmp_path.iterdir()] == [retagged.name]
    with zipfile.ZipFile(retagged) as archive:
        meta = archive.read("llama_cpp_python-0.3.36.dist-info/WHEEL")
        record = archive.read("llama_cpp_python-0.3.36.dist-info/RECORD").decode()
        assert elf_machine(archive.read("llama_cpp/lib/libllama.so")) == EM_AARCH64
    assert b"Tag: py3-none-linux_aarch64\n" in meta and b"x86_64" not in meta
    digest = base64.urlsafe_b64encode(hashlib.sha256(meta).digest()).rstrip(b"=").decode()
    assert f"llama_cpp_python-0.3.36.dist-info/WHEEL,sha256={digest},{len(meta)}" in record


def test_a_host_build_is_refused_rather_than_renamed(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, EM_X86_64)
    with pytest.raises(BuildError, match="not AArch64"):
        retag_wheel(wheel)
    assert wheel.exists(), "the refused wheel is left for inspection"


def test_cross_args_add_cmakes_cross_settings_to_the_profile_and_refuse_x86_profiles() -> None:
    args = cross_cmake_args(get_profile("neoverse-v2"), "/usr/bin/aarch64-linux-gnu-gcc", "/usr/bin/aarch64-linux-gnu-g++")
    assert args[:2] == list(get_profile("neoverse-v2").cmake_args)
    assert "-DCMAKE_SYSTEM_PROCESSOR=aarch64" in args and "-DCMAKE_CXX_COMPILER=/usr/bin/aarch64-linux-gnu-g++" in args
    with pytest.raises(BuildError, match="x86_64"):
        cross_cmake_args(get_profile("x86_64-avx2"), "gcc", "g++")
    assert elf_machine(b"not an elf") is None
