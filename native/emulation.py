"""An aarch64 Python on an x86_64 host: qemu-aarch64, Debian's arm64 interpreter, a real venv around it.

What `native.armcheck` runs its cases in. Nothing here needs root beyond apt-get for the host
tools: `qemu-aarch64 -L <sysroot>` runs the interpreter from a folder of unpacked packages (no
binfmt, no root file system), and the venv is made by hand around it so that `sys.executable`
inside is the venv's own, as on a real ARM server.
"""

import hashlib
import shutil
import subprocess
import tomllib
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from .build import DEFAULT_VERSION, file_sha256
from .cross import CROSS_PREFIX, TOOLCHAIN_PACKAGES
from .errors import BuildError
from .home import ENGINE_PACKAGE
from .marker import EngineMarker, write_marker
from .probe import PROBE_SOURCE
from .profiles import Profile

REPO_ROOT = Path(__file__).resolve().parent.parent

PY_VERSION = "3.11"
# Debian bookworm's arm64 Python 3.11 and the libraries it and the engine link against.
ARM64_PACKAGES = (
    "python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "python3.11",
    "libc6", "libgcc-s1", "libstdc++6", "libgomp1", "gcc-12-base", "zlib1g", "libbz2-1.0", "liblzma5",
    "libexpat1", "libffi8", "libssl3", "libsqlite3-0", "libuuid1", "libncursesw6", "libtinfo6",
    "libreadline8", "libdb5.3", "libcrypt1", "libnsl2", "libtirpc3", "libgssapi-krb5-2", "libk5crypto3",
    "libkeyutils1", "libkrb5-3", "libkrb5support0", "libcom-err2",
)  # fmt: skip
# llama-cpp-python's own dependencies (the engine wheel is installed with --no-deps).
ENGINE_DEPENDENCIES = ("numpy>=1.24", "typing-extensions>=4.12", "diskcache>=5.6.1", "jinja2>=2.11.3")
AARCH64_PLATFORMS = (
    "manylinux_2_36_aarch64", "manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64", "linux_aarch64",
)  # fmt: skip
STEP_TIMEOUT_SECONDS = 1800.0


def run_step(command: list[str], *, timeout: float = STEP_TIMEOUT_SECONDS, env: dict[str, str] | None = None) -> str:
    """Run one step and return its output; a failure raises BuildError with the output's last lines."""
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-15:])
        raise BuildError(f"{' '.join(command[:4])} … failed (exit status {completed.returncode}):\n{tail}")
    return completed.stdout


def ensure_host_tools(out: TextIO) -> str:
    """The cross toolchain and qemu-aarch64, installed with apt-get when missing; returns qemu's path."""
    needed = [f"{CROSS_PREFIX}gcc", f"{CROSS_PREFIX}g++", "qemu-aarch64", "dpkg-deb"]
    if any(shutil.which(tool) is None for tool in needed):
        apt = shutil.which("apt-get")
        if apt is None:
            raise BuildError(f"need {', '.join(needed)} and no apt-get to install them")
        out.write(f"installing {' '.join(TOOLCHAIN_PACKAGES)} qemu-user\n")
        out.flush()
        try:
            run_step([apt, "install", "-y", "-qq", *TOOLCHAIN_PACKAGES, "qemu-user"])
        except BuildError:
            run_step([apt, "update", "-qq"])
            run_step([apt, "install", "-y", "-qq", *TOOLCHAIN_PACKAGES, "qemu-user"])
    qemu = shutil.which("qemu-aarch64")
    assert qemu is not None
    return qemu


def ensure_sysroot(root: Path, out: TextIO) -> Path:
    """An aarch64 Python 3.11 with its libraries, unpacked from Debian's arm64 packages (cached)."""
    stamp = root / ".livemind-sysroot"
    want = hashlib.sha256(" ".join(ARM64_PACKAGES).encode()).hexdigest()
    if stamp.is_file() and stamp.read_text() == want and (root / "usr/bin/python3.11").exists():
        return root
    out.write(f"unpacking Debian's arm64 Python {PY_VERSION} into {root}\n")
    out.flush()
    if "arm64" not in run_step(["dpkg", "--print-foreign-architectures"]).split():
        run_step(["dpkg", "--add-architecture", "arm64"])
        run_step(["apt-get", "update", "-qq"])
    debs = root.with_name(root.name + "-debs")
    shutil.rmtree(debs, ignore_errors=True)
    debs.mkdir(parents=True)
    packages = [f"{name}:arm64" for name in ARM64_PACKAGES]
    try:
        _run_in(debs, ["apt-get", "download", "-qq", *packages])
    except BuildError:
        run_step(["apt-get", "update", "-qq"])
        _run_in(debs, ["apt-get", "download", "-qq", *packages])
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for deb in sorted(debs.glob("*.deb")):
        run_step(["dpkg-deb", "-x", str(deb), str(root)])
    shutil.rmtree(debs, ignore_errors=True)
    stamp.write_text(want)
    return root


def _run_in(directory: Path, command: list[str]) -> None:
    completed = subprocess.run(command, cwd=directory, capture_output=True, text=True, timeout=STEP_TIMEOUT_SECONDS, check=False)
    if completed.returncode != 0:
        raise BuildError(f"{' '.join(command[:3])} failed:\n{completed.stderr[-2000:]}")


def project_dependencies() -> list[str]:
    """LiveMind's runtime dependencies, from pyproject.toml, without the engine (built here)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    runtime = [spec for spec in project["dependencies"] if not spec.startswith(ENGINE_PACKAGE)]
    return [*runtime, *ENGINE_DEPENDENCIES]


def ensure_site(site: Path, host_python: Path, out: TextIO) -> Path:
    """LiveMind's dependencies as aarch64 CPython 3.11 wheels, installed into `site` by the host's pip."""
    requirements = project_dependencies()
    stamp = site / ".livemind-site"
    want = hashlib.sha256("\n".join(requirements).encode()).hexdigest()
    if stamp.is_file() and stamp.read_text() == want:
        return site
    out.write(f"installing {len(requirements)} dependencies as aarch64 wheels into {site}\n")
    out.flush()
    shutil.rmtree(site, ignore_errors=True)
    platforms = [argument for name in AARCH64_PLATFORMS for argument in ("--platform", name)]
    run_step([
        str(host_python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target", str(site),
        *platforms, "--implementation", "cp", "--python-version", PY_VERSION, "--only-binary=:all:", *requirements,
    ])  # fmt: skip
    stamp.write_text(want)
    return site


def make_emulated_venv(
    venv: Path, sysroot: Path, site: Path, wheel: Path, profile: Profile, qemu: str, cpu: str, home: Path
) -> Path:
    """A real venv (pyvenv.cfg, site-packages, engine marker) around the emulated interpreter.

    `bin/python` is a launcher that runs `bin/python3.11` under `qemu-aarch64 -cpu <cpu>`; inside,
    `sys.executable` is the venv's own interpreter, so `livemind doctor` finds the venv's marker as
    it would on a real ARM server. PATH inside holds no compiler: the host's gcc would build an
    x86 probe.
    """
    shutil.rmtree(venv, ignore_errors=True)
    packages = venv / "lib" / f"python{PY_VERSION}" / "site-packages"
    packages.mkdir(parents=True)
    (venv / "bin").mkdir()
    (venv / "pyvenv.cfg").write_text(
        f"home = {sysroot / 'usr' / 'bin'}\ninclude-system-site-packages = false\nversion = {PY_VERSION}\n"
    )
    (venv / "bin" / f"python{PY_VERSION}").symlink_to(sysroot / "usr" / "bin" / f"python{PY_VERSION}")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(packages)
    (packages / "livemind.pth").write_text(f"import site; site.addsitedir({str(site)!r})\n")
    (packages / "livemind").symlink_to(REPO_ROOT / "livemind")
    (packages / "livemind_native").symlink_to(REPO_ROOT / "native")
    launcher = venv / "bin" / "python"
    launcher.write_text(
        "#!/bin/sh\n"
        f"# {profile.name} engine under an emulated {cpu}\n"
        f"PATH={venv / 'bin'} LIVEMIND_HOME={home} PYTHONDONTWRITEBYTECODE=1 "
        f'exec {qemu} -cpu {cpu} -L {sysroot} {venv / "bin" / f"python{PY_VERSION}"} "$@"\n'
    )
    launcher.chmod(0o755)
    write_marker(
        venv,
        EngineMarker(
            version=DEFAULT_VERSION,
            profile=profile.name,
            kleidiai=False,
            wheel=str(wheel),
            wheel_sha256=file_sha256(wheel),
            cmake_args=tuple(profile.cmake_args),
            installed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        ),
    )
    return launcher


def compile_aarch64_probe(directory: Path) -> Path:
    """cpuprobe.c, cross-compiled statically (so qemu needs no sysroot to run it)."""
    directory.mkdir(parents=True, exist_ok=True)
    binary = directory / "cpuprobe-aarch64"
    run_step([f"{CROSS_PREFIX}gcc", "-O2", "-static", "-o", str(binary), str(PROBE_SOURCE)], timeout=120)
    return binary
