"""Cross-build the engine wheel for an aarch64 profile on an x86_64 machine.

    python3 -m native.cross --profile neoverse-n1 [--venv .venv] [--cache-dir DIR]
                            [--version 0.3.36] [--rebuild]

Debian's aarch64 cross toolchain (`gcc-aarch64-linux-gnu`, `g++-aarch64-linux-gnu`) compiles
llama-cpp-python with the profile's own CMAKE_ARGS plus CMake's cross-compiling settings. pip
names the wheel after the build host, so it is retagged `linux_aarch64`, and every shared
library in it must be an AArch64 ELF before it is cached, in the same place an aarch64
machine's own build goes: `<home>/wheels/llama-cpp-python-<version>-<profile>/`.
`python3 -m native.armcheck` then runs it under qemu.
"""

import argparse
import base64
import hashlib
import os
import shutil
import sys
import zipfile
from pathlib import Path
from typing import TextIO

from .build import DEFAULT_VERSION, build_lock, build_wheel, clear_wheel_dir, find_cached_wheel, venv_python
from .errors import BuildError, NativeError
from .home import ENGINE_PACKAGE, build_log_path, default_home, wheel_cache_dir
from .profiles import Profile, get_profile

CROSS_PREFIX = "aarch64-linux-gnu-"
TOOLCHAIN_PACKAGES = ("gcc-aarch64-linux-gnu", "g++-aarch64-linux-gnu")
SYSROOT = Path("/usr/aarch64-linux-gnu")
PLATFORM_TAG = "linux_aarch64"
EM_AARCH64 = 183  # ELF e_machine
_ELF_MAGIC = b"\x7fELF"


def require_toolchain() -> tuple[str, str]:
    """(C compiler, C++ compiler) of the aarch64 cross toolchain, or a BuildError naming the install."""
    compilers = tuple(shutil.which(f"{CROSS_PREFIX}{name}") for name in ("gcc", "g++"))
    if None in compilers:
        raise BuildError(f"the aarch64 cross toolchain is missing: apt-get install -y {' '.join(TOOLCHAIN_PACKAGES)}")
    gcc, gxx = compilers
    assert gcc is not None and gxx is not None
    return gcc, gxx


def cross_cmake_args(profile: Profile, gcc: str, gxx: str) -> list[str]:
    """The profile's CMAKE_ARGS plus what makes CMake compile for aarch64 Linux."""
    if profile.arch != "aarch64":
        raise BuildError(f"profile {profile.name} is for {profile.arch}; cross builds are for aarch64 profiles")
    return [
        *profile.cmake_args,
        "-DCMAKE_SYSTEM_NAME=Linux",
        "-DCMAKE_SYSTEM_PROCESSOR=aarch64",
        f"-DCMAKE_C_COMPILER={gcc}",
        f"-DCMAKE_CXX_COMPILER={gxx}",
        f"-DCMAKE_FIND_ROOT_PATH={SYSROOT}",
        "-DCMAKE_FIND_ROOT_PATH_MODE_PROGRAM=NEVER",
        "-DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY",
        "-DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY",
    ]


def elf_machine(data: bytes) -> int | None:
    """The e_machine field of a little-endian ELF image, or None if `data` is not ELF."""
    if len(data) < 20 or not data.startswith(_ELF_MAGIC):
        return None
    return int.from_bytes(data[18:20], "little")


def retag_wheel(wheel: Path, platform_tag: str = PLATFORM_TAG) -> Path:
    """Rewrite `wheel` (pip named it after the build host) as a `platform_tag` wheel; return the new path.

    Refuses a wheel whose shared libraries are not all AArch64: that would be a host build
    with a wrong name.
    """
    parts = wheel.name[: -len(".whl")].split("-")
    if len(parts) < 5:
        raise BuildError(f"{wheel.name} is not a wheel file name")
    target = wheel.with_name("-".join([*parts[:-1], platform_tag]) + ".whl")
    with zipfile.ZipFile(wheel) as source:
        names = source.namelist()
        libraries = [name for name in names if ".so" in Path(name).name]
        if not libraries:
            raise BuildError(f"{wheel.name} holds no shared library: the engine was not built")
        for name in libraries:
            machine = elf_machine(source.read(name)[:64])
            if machine != EM_AARCH64:
                raise BuildError(f"{name} in {wheel.name} is ELF machine {machine}, not AArch64 ({EM_AARCH64})")
        wheel_meta = next(name for name in names if name.endswith(".dist-info/WHEEL"))
        record = next(name for name in names if name.endswith(".dist-info/RECORD"))
        tag_lines = []
        for line in source.read(wheel_meta).decode().splitlines():
            if line.startswith("Tag: "):
                interpreter, abi, _ = line[len("Tag: ") :].split("-", 2)
                line = f"Tag: {interpreter}-{abi}-{platform_tag}"
            tag_lines.append(line)
        new_meta = ("\n".join(tag_lines) + "\n").encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(new_meta).digest()).rstrip(b"=").decode()
        record_lines = [
            f"{wheel_meta},sha256={digest},{len(new_meta)}" if line.startswith(f"{wheel_meta},") else line
            for line in source.read(record).decode().splitlines()
        ]
        partial = target.with_name(target.name + ".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as out:
            for info in source.infolist():
                if info.filename == wheel_meta:
                    out.writestr(info, new_meta)
                elif info.filename == record:
                    out.writestr(info, "\n".join(record_lines) + "\n")
                else:
                    out.writestr(info, source.read(info.filename))
    os.replace(partial, target)
    if target != wheel:
        wheel.unlink()
    return target


def ensure_cross_wheel(
    profile: Profile,
    home: Path,
    python: Path,
    *,
    version: str = DEFAULT_VERSION,
    rebuild: bool = False,
    out: TextIO = sys.stdout,
) -> tuple[Path, bool]:
    """The cached aarch64 wheel of `profile`, built with the cross toolchain if missing; (wheel, built)."""
    gcc, gxx = require_toolchain()
    cmake_args = cross_cmake_args(profile, gcc, gxx)
    wheel_dir = wheel_cache_dir(home, version, profile.name)
    with build_lock(wheel_dir, out):
        clear_wheel_dir(wheel_dir, rebuild=rebuild, out=out)
        wheel = find_cached_wheel(wheel_dir, version)
        if wheel is not None:
            out.write(f"cached wheel: {wheel}\n")
            return wheel, False
        out.write(f"profile: {profile.name} ({profile.description})\nCMAKE_ARGS={' '.join(cmake_args)}\n")
        out.write(f"cross-building {ENGINE_PACKAGE} {version} for aarch64 (about 5 min on 2 cores)\n")
        out.flush()
        log = build_log_path(home, version, profile.name)
        wheel = build_wheel(python, version, cmake_args, wheel_dir, log, out, finish=retag_wheel)
        return wheel, True


def main(argv: list[str] | None = None) -> int:
    """Cross-compile the engine for an aarch64 build profile and cache the wheel."""
    parser = argparse.ArgumentParser(prog=f"python3 -m {__package__}.cross", description=main.__doc__)
    parser.add_argument("--profile", required=True, help="an aarch64 profile, e.g. neoverse-n1 or neoverse-v2")
    parser.add_argument("--venv", type=Path, default=Path(".venv"), help="whose pip builds the wheel (default .venv)")
    parser.add_argument("--cache-dir", type=Path, help="LiveMind cache directory (default: $LIVEMIND_HOME or ~/.cache/livemind)")
    parser.add_argument("--version", default=DEFAULT_VERSION, help=f"{ENGINE_PACKAGE} version (default {DEFAULT_VERSION})")
    parser.add_argument("--rebuild", action="store_true", help="drop the cached wheel and build again")
    args = parser.parse_args(argv)
    home = args.cache_dir or default_home(os.environ)
    try:
        wheel, _ = ensure_cross_wheel(
            get_profile(args.profile), home, venv_python(args.venv), version=args.version, rebuild=args.rebuild
        )
    except NativeError as error:
        sys.stderr.write(f"error: {error}\n")
        return 1
    print(wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
