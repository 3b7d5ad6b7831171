"""Where the native layer keeps its artefacts: the probe binary, wheels and build logs.

    <home>/probe/cpuprobe-<arch>-<sha>                           compiled probe, keyed by arch and source
    <home>/wheels/llama-cpp-python-<version>-<build>/*.whl       one wheel per version and build
    <home>/logs/llama-cpp-python-<version>-<build>.log           full output of the last build

`<build>` is the profile's name, `-kleidiai` for that variant, and `+p<patch set id>` when the
build carries source patches (`source_patches.build_key`).

`<home>` is `$LIVEMIND_HOME`, or `~/.cache/livemind`. Only command-line entry points
call `default_home`; everything else takes paths as arguments.
"""

from collections.abc import Mapping
from pathlib import Path

BOOTSTRAP_PACKAGE = "native"
"""How commands shown to a person run this layer: by path from the repo root, before any venv exists.
(Installed, the same modules import as `livemind_native`.)"""

ENGINE_PACKAGE = "llama-cpp-python"


def default_home(environ: Mapping[str, str]) -> Path:
    """Return `$LIVEMIND_HOME`, or `~/.cache/livemind` when it is unset or empty."""
    configured = environ.get("LIVEMIND_HOME", "")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "livemind"


def probe_cache_dir(home: Path) -> Path:
    """Return the directory that holds compiled probe binaries."""
    return home / "probe"


def wheel_cache_dir(home: Path, version: str, build_name: str) -> Path:
    """Return the wheel directory for one engine version and build profile."""
    return home / "wheels" / f"{ENGINE_PACKAGE}-{version}-{build_name}"


def build_log_path(home: Path, version: str, build_name: str) -> Path:
    """Return the file that keeps the full output of a wheel build."""
    return home / "logs" / f"{ENGINE_PACKAGE}-{version}-{build_name}.log"
