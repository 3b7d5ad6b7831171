"""The record, kept inside a virtualenv, of which engine build is installed there.

`<venv>/livemind-engine.json` says which llama-cpp-python version, build profile and
source patches `native.build` installed, and the sha256 of the wheel. It lets the build skip a
reinstall, lets the smoke test name the profile that crashed, and lets
`livemind doctor` compare the engine with the CPU.
"""

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

MARKER_NAME = "livemind-engine.json"


@dataclass(frozen=True)
class EngineMarker:
    """Which engine build a virtualenv holds."""

    version: str
    profile: str
    kleidiai: bool
    wheel: str
    wheel_sha256: str
    cmake_args: tuple[str, ...]
    installed_at: str
    patches: tuple[str, ...] = ()
    """The source patches (native/patches/ file names) the wheel was built with, in order."""

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-able copy."""
        return asdict(self)


def marker_path(venv: Path) -> Path:
    """Return where the marker of `venv` lives."""
    return venv / MARKER_NAME


def read_marker(venv: Path) -> EngineMarker | None:
    """Return the venv's marker, or None when it is missing or unreadable."""
    try:
        data = json.loads(marker_path(venv).read_text())
        return EngineMarker(
            version=str(data["version"]),
            profile=str(data["profile"]),
            kleidiai=bool(data["kleidiai"]),
            wheel=str(data["wheel"]),
            wheel_sha256=str(data["wheel_sha256"]),
            cmake_args=tuple(str(arg) for arg in data["cmake_args"]),
            installed_at=str(data["installed_at"]),
            # Markers written before source patches existed record none: their builds had none.
            patches=tuple(str(name) for name in data.get("patches", ())),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_marker(venv: Path, marker: EngineMarker) -> None:
    """Write the venv's marker atomically."""
    handle, partial = tempfile.mkstemp(prefix=".livemind-engine-", dir=venv)
    with os.fdopen(handle, "w") as stream:
        json.dump(marker.to_dict(), stream, indent=2)
        stream.write("\n")
    os.replace(partial, marker_path(venv))
