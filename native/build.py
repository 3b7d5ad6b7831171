"""Build, cache and install the llama-cpp-python wheel that fits this CPU.

    python3 -m native.build --venv .venv [--cache-dir DIR] [--profile NAME]
                            [--version 0.3.36] [--kleidiai] [--rebuild] [--force]

Probe the CPU, pick a build profile (or take --profile), then make sure the venv
holds a wheel built with that profile's CMAKE_ARGS and source patches (native/patches/,
`source_patches.PATCHES`). Wheels are cached per version, profile and patch set in
`<cache>/wheels/llama-cpp-python-<version>-<profile>[+p<patch set id>]/`, because
pip's own wheel cache ignores CMAKE_ARGS and would hand back a wheel built for
another CPU.
"""

import argparse
import collections
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from .errors import BuildError, NativeError
from .home import BOOTSTRAP_PACKAGE, ENGINE_PACKAGE, build_log_path, default_home, probe_cache_dir, wheel_cache_dir
from .marker import EngineMarker, marker_path, read_marker, write_marker
from .probe import ProbeResult, probe
from .profiles import Profile, explain_selection, fit_problems, get_profile, select_profile
from .progress import StatusLine, run_streaming
from .source_patches import SourcePatch, apply_patches, build_key, patches_for, unpack_sdist

DEFAULT_VERSION = "0.3.36"
_WHEEL_PREFIX = ENGINE_PACKAGE.replace("-", "_")
_INSTALL_TIMEOUT_SECONDS = 600
_LOG_TAIL_LINES = 25


@dataclass(frozen=True)
class EngineInstall:
    """The engine wheel a venv now holds, and what this run had to do for it."""

    profile: str
    kleidiai: bool
    version: str
    wheel: Path
    wheel_sha256: str
    built: bool
    installed: bool
    patches: tuple[str, ...] = ()


def venv_python(venv: Path) -> Path:
    """Return the venv's interpreter, or raise if the venv does not exist."""
    python = venv / "bin" / "python"
    if not python.exists():
        raise BuildError(f"no Python at {python}; create the venv first: python3 -m venv {venv}")
    return python


def find_cached_wheel(wheel_dir: Path, version: str) -> Path | None:
    """Return the newest complete engine wheel of `version` in `wheel_dir`, if any."""
    candidates = sorted(
        wheel_dir.glob(f"{_WHEEL_PREFIX}-{version}-*.whl"),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    return next((wheel for wheel in candidates if _is_complete_wheel(wheel)), None)


def _is_complete_wheel(wheel: Path) -> bool:
    # A wheel still being copied in by another process has no central directory yet.
    try:
        with zipfile.ZipFile(wheel) as archive:
            return "llama_cpp/__init__.py" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def staging_prefix(wheel_dir: Path) -> str:
    # "~" never occurs in profile names, so one build's prefix never matches another's.
    return f".build-{wheel_dir.name}~"


@contextmanager
def build_lock(wheel_dir: Path, out: TextIO) -> Iterator[None]:
    """Hold an exclusive lock so two builds of the same wheel never run at once."""
    wheel_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = wheel_dir.parent / f".{wheel_dir.name}.lock"
    with lock_path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            out.write(f"another build of {wheel_dir.name} is running; waiting for it\n")
            out.flush()
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_wheel(
    python: Path,
    version: str,
    cmake_args: Sequence[str],
    wheel_dir: Path,
    log_path: Path,
    out: TextIO,
    *,
    extra_env: Mapping[str, str] | None = None,
    finish: Callable[[Path], Path] | None = None,
    patches: Sequence[SourcePatch] = (),
) -> Path:
    """Build the engine wheel with `cmake_args` and move it atomically into `wheel_dir`.

    With `patches`, the wheel is built from the downloaded sdist with the patches applied.
    `finish` may check or rewrite the built wheel (the cross build retags it) before it is cached.
    """
    wheel_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # Built next to the cache so the final move is a same-filesystem rename.
    staging = Path(tempfile.mkdtemp(prefix=staging_prefix(wheel_dir), dir=wheel_dir.parent))
    environment = {**os.environ, **(extra_env or {}), "CMAKE_ARGS": " ".join(cmake_args)}
    tail: collections.deque[str] = collections.deque(maxlen=_LOG_TAIL_LINES)
    try:
        with log_path.open("w") as log:
            target = f"{ENGINE_PACKAGE}=={version}"
            if patches:
                target = str(patched_source(python, version, patches, staging, log, out))
            command = [
                str(python), "-m", "pip", "wheel", "--no-cache-dir", "--no-deps", "-v", target, "-w", str(staging),
            ]  # fmt: skip
            status = StatusLine(out, f"building {ENGINE_PACKAGE} {version}")
            log.write(f"$ CMAKE_ARGS={environment['CMAKE_ARGS']!r} {' '.join(command)}\n")
            returncode = run_streaming(command, environment, log, status, tail)
        if returncode != 0:
            status.finish(f"build failed with exit status {returncode}")
            raise BuildError(
                f"pip wheel {ENGINE_PACKAGE}=={version} failed (exit status {returncode}); full log: {log_path}\n" + "".join(tail)
            )
        built = find_cached_wheel(staging, version)
        if built is None:
            raise BuildError(f"pip reported success but left no {ENGINE_PACKAGE} wheel; log: {log_path}")
        if finish is not None:
            built = finish(built)
        wheel_dir.mkdir(parents=True, exist_ok=True)
        final = wheel_dir / built.name
        os.replace(built, final)
        status.finish(f"built {final.name}")
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def patched_source(python: Path, version: str, patches: Sequence[SourcePatch], staging: Path, log: TextIO, out: TextIO) -> Path:
    """Download the engine's sdist into `staging`, unpack it and apply `patches`; return the source tree."""
    command = [
        str(python), "-m", "pip", "download", "--no-cache-dir", "--no-binary", ":all:", "--no-deps",
        f"{ENGINE_PACKAGE}=={version}", "-d", str(staging / "sdist"),
    ]  # fmt: skip
    status = StatusLine(out, f"downloading the {ENGINE_PACKAGE} {version} source")
    tail: collections.deque[str] = collections.deque(maxlen=_LOG_TAIL_LINES)
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    returncode = run_streaming(command, dict(os.environ), log, status, tail)
    sdists = sorted((staging / "sdist").glob("*.tar.gz"))
    if returncode != 0 or not sdists:
        status.finish("download failed")
        raise BuildError(f"pip download {ENGINE_PACKAGE}=={version} left no source archive (exit status {returncode}); "
                         f"full log: {log.name}\n" + "".join(tail))  # fmt: skip
    source = unpack_sdist(sdists[0], staging / "src")
    apply_patches(source, patches, what=f"{ENGINE_PACKAGE} {version}")
    message = f"applied {len(patches)} patch(es) to {sdists[0].name}: {', '.join(patch.name for patch in patches)}"
    log.write(message + "\n")
    status.finish(message)
    return source


def is_installed(venv: Path, version: str, profile: str, kleidiai: bool, wheel_sha256: str, patches: Sequence[str] = ()) -> bool:
    """Whether the venv already holds exactly this wheel, per its marker and site-packages."""
    marker = read_marker(venv)
    recorded = None if marker is None else (marker.version, marker.profile, marker.kleidiai, marker.wheel_sha256, marker.patches)
    if recorded != (version, profile, kleidiai, wheel_sha256, tuple(patches)):
        return False
    return any(venv.glob(f"lib/python*/site-packages/{_WHEEL_PREFIX}-{version}.dist-info"))


def install_wheel(venv: Path, wheel: Path, marker: EngineMarker) -> None:
    """Install the wheel into the venv (replacing any other build) and record the marker."""
    command = [
        str(venv_python(venv)), "-m", "pip", "install", "--no-deps", "--force-reinstall", str(wheel),
    ]  # fmt: skip
    # --force-reinstall uninstalls first: until the new marker is written, the old one would lie.
    marker_path(venv).unlink(missing_ok=True)
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired as error:
        raise BuildError(f"pip install {wheel.name} did not finish in {_INSTALL_TIMEOUT_SECONDS} s") from error
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-_LOG_TAIL_LINES:])
        raise BuildError(f"pip install {wheel.name} into {venv} failed:\n{tail}")
    write_marker(venv, marker)


def clear_wheel_dir(wheel_dir: Path, *, rebuild: bool, out: TextIO) -> None:
    """Drop a killed build's staging dirs, and with `rebuild` the cached wheels. Call it holding `build_lock`."""
    # Holding the lock means no build of this wheel is running: staging dirs are leftovers
    # of a build that was killed before it could clean up.
    for leftover in wheel_dir.parent.glob(f"{staging_prefix(wheel_dir)}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    if rebuild and wheel_dir.exists():
        for stale in wheel_dir.glob("*.whl"):
            stale.unlink()
        out.write(f"dropped cached wheels in {wheel_dir}\n")


def ensure_engine(
    venv: Path,
    home: Path,
    version: str,
    profile: Profile,
    *,
    kleidiai: bool = False,
    rebuild: bool = False,
    out: TextIO = sys.stdout,
) -> EngineInstall:
    """Make sure `venv` holds the engine built with `profile`, building it only if needed."""
    python = venv_python(venv)
    build_name = profile.build_name(kleidiai=kleidiai)
    cmake_args = profile.cmake_args_for(kleidiai=kleidiai)
    patches = patches_for(profile.arch)
    patch_names = tuple(patch.name for patch in patches)
    key = build_key(build_name, patches)
    wheel_dir = wheel_cache_dir(home, version, key)
    built = False
    with build_lock(wheel_dir, out):
        clear_wheel_dir(wheel_dir, rebuild=rebuild, out=out)
        wheel = find_cached_wheel(wheel_dir, version)
        if wheel is None:
            out.write(f"CMAKE_ARGS={' '.join(cmake_args)}\n")
            if patches:
                out.write(f"source patches: {', '.join(patch_names)} (native/patches/)\n")
            if kleidiai:
                out.write("note: KleidiAI's CMake fetches its sources from GitHub while configuring\n")
            out.write(f"no cached wheel in {wheel_dir}; building (about 5 min on 2 cores)\n")
            out.flush()
            log_path = build_log_path(home, version, key)
            wheel = build_wheel(python, version, cmake_args, wheel_dir, log_path, out, patches=patches)
            built = True
        else:
            out.write(f"cached wheel: {wheel}\n")
    digest = file_sha256(wheel)
    if not rebuild and is_installed(venv, version, profile.name, kleidiai, digest, patch_names):
        out.write(f"{venv} already has {ENGINE_PACKAGE} {version} built for {key}\n")
        return EngineInstall(profile.name, kleidiai, version, wheel, digest, built, installed=False, patches=patch_names)
    out.write(f"installing {wheel.name} into {venv}\n")
    out.flush()
    marker = EngineMarker(
        version=version,
        profile=profile.name,
        kleidiai=kleidiai,
        wheel=str(wheel),
        wheel_sha256=digest,
        cmake_args=cmake_args,
        installed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        patches=patch_names,
    )
    install_wheel(venv, wheel, marker)
    return EngineInstall(profile.name, kleidiai, version, wheel, digest, built, installed=True, patches=patch_names)


def upstream_engine(venv: Path, home: Path, *, build: bool, out: TextIO = sys.stdout) -> Path | None:
    """The engine `venv` holds, built without source patches, unpacked outside any venv: the "before" of the patches.

    Returns a directory holding `llama_cpp/`; put it first on PYTHONPATH and that process imports the
    unpatched build (same version, profile and CMAKE_ARGS). None when the venv's engine has no patches,
    or when no unpatched wheel is cached and `build` is False. Building takes as long as the first install.
    """
    marker = read_marker(venv)
    if marker is None or not marker.patches:
        return None
    profile = get_profile(marker.profile)
    build_name = profile.build_name(kleidiai=marker.kleidiai)
    wheel_dir = wheel_cache_dir(home, marker.version, build_key(build_name, ()))
    with build_lock(wheel_dir, out):
        wheel = find_cached_wheel(wheel_dir, marker.version)
        if wheel is None:
            if not build:
                return None
            out.write(f"building the unpatched engine for comparison (profile {build_name}, no source patches)\n")
            wheel = build_wheel(venv_python(venv), marker.version, profile.cmake_args_for(kleidiai=marker.kleidiai),
                                wheel_dir, build_log_path(home, marker.version, build_name), out)
    target = home / "engines" / f"{wheel_dir.name}-{file_sha256(wheel)[:12]}"
    if not (target / "llama_cpp" / "__init__.py").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}~", dir=target.parent))
        try:
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(staging)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def choose_profile(probe_result: ProbeResult, requested: str | None, *, force: bool, out: TextIO) -> Profile:
    """Return the requested profile (checked against the CPU) or the best fit, saying why."""
    if requested is None:
        chosen = select_profile(probe_result)
        out.write(f"profile: {chosen.name} ({chosen.description})\nwhy:\n")
        for line in explain_selection(probe_result):
            out.write(f"  {line}\n")
        return chosen
    chosen = get_profile(requested)
    problems = fit_problems(chosen, probe_result)
    if problems and not force:
        raise BuildError(
            f"{'; '.join(problems)}: a build would crash on this CPU (SIGILL). "
            f"Use --force to build it anyway, e.g. for another machine."
        )
    out.write(f"profile: {chosen.name} (requested with --profile; {chosen.description})\n")
    for problem in problems:
        out.write(f"  warning: {problem}; building anyway because of --force\n")
    return chosen


def main(argv: list[str] | None = None) -> int:
    """Probe the CPU, choose a build profile, and build and install the matching engine."""
    parser = argparse.ArgumentParser(prog=f"python3 -m {__package__}.build", description=main.__doc__)
    parser.add_argument("--venv", type=Path, required=True, help="virtualenv to install the engine into")
    parser.add_argument("--cache-dir", type=Path, help="LiveMind cache directory (default: $LIVEMIND_HOME or ~/.cache/livemind)")
    parser.add_argument("--profile", help="build profile to use instead of the probe's choice")
    parser.add_argument("--version", default=DEFAULT_VERSION, help=f"{ENGINE_PACKAGE} version (default {DEFAULT_VERSION})")
    parser.add_argument(
        "--kleidiai", action="store_true", help="add Arm KleidiAI kernels (aarch64; fetches KleidiAI at build time)"
    )
    parser.add_argument("--rebuild", action="store_true", help="drop the cached wheel, build and reinstall")
    parser.add_argument("--force", action="store_true", help="build a --profile even if this CPU cannot run it")
    args = parser.parse_args(argv)

    home = args.cache_dir or default_home(os.environ)
    out = sys.stdout
    try:
        probe_result = probe(probe_cache_dir(home))
        detail = probe_result.get("detail", {})
        vendor = f" ({detail['vendor']})" if "vendor" in detail else ""
        out.write(f"cpu: {probe_result['arch']}{vendor}, probed by {probe_result['source']}\n")
        if "note" in probe_result:
            out.write(f"  note: {probe_result['note']}\n")
        profile = choose_profile(probe_result, args.profile, force=args.force, out=out)
        result = ensure_engine(args.venv, home, args.version, profile, kleidiai=args.kleidiai, rebuild=args.rebuild, out=out)
    except NativeError as error:
        sys.stderr.write(f"error: {error}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; no wheel was cached or installed\n")
        return 130
    out.write(
        f"engine: {ENGINE_PACKAGE} {result.version}, profile {result.profile}"
        f"{' + KleidiAI' if result.kleidiai else ''}, wheel sha256 {result.wheel_sha256[:16]}…\n"
        f"source patches: {', '.join(result.patches) or 'none'}\n"
        f"check it: python3 -m {BOOTSTRAP_PACKAGE}.smoke --python {args.venv / 'bin' / 'python'} --model MODEL.gguf\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
