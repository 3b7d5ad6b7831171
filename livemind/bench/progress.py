"""A bench run that outlives its process: every finished section is kept, and the next run resumes.

A full run on the default council takes hours on 2 cores. After each section the document so far
is written to `DIR/bench.partial.json` (atomically); `livemind bench --out DIR` finds it, checks that
it was measured on the same machine, engine build, council and sizes, and measures only the
sections still missing. Each sitting is a "part" with its own wall time and load averages, which the
report lists. The partial file is removed once bench.json is written.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from livemind.errors import InvalidRequestError

PARTIAL_NAME = "bench.partial.json"
# What must match for two sittings to be one run: the figures of one must be comparable with the other's.
_MACHINE_KEYS = ("cpu", "cores_available", "llama_cpp_python", "engine_simd")
_OPTION_KEYS = ("runs", "max_tokens", "prompts")


def partial_path(out: Path) -> Path:
    """Where the unfinished run of `out` is kept."""
    return out / PARTIAL_NAME


def resume(doc: dict[str, Any], out: Path, *, restart: bool, log: Any) -> dict[str, Any]:
    """The document to continue: the kept one when it matches `doc`'s identity, else `doc` itself.

    restart: drop a kept run instead of continuing it. A kept run from another machine, engine,
    council or size is refused with what differs, so figures from two setups are never mixed.
    """
    path = partial_path(out)
    if not path.exists():
        return doc
    if restart:
        path.unlink()
        log(f"dropped the unfinished run in {path}")
        return doc
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidRequestError(f"{path} cannot be read ({exc})",
                                  hint="pass --restart to measure from the start, or use another --out") from exc
    differences = _differences(kept, doc)
    if differences:
        raise InvalidRequestError(f"the unfinished run in {out} was measured differently: {'; '.join(differences)}",
                                  hint="pass --restart to measure from the start, or use another --out")
    done = [name for name in kept.get("sections", {})]
    log(f"resuming the run in {out}; already measured: {', '.join(done) or 'nothing'}")
    kept["parts"] = [*kept.get("parts", []), doc["parts"][-1]]
    kept["errors"] = {}  # a section that failed is measured again
    return kept


def _differences(kept: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    out = []
    for key in _MACHINE_KEYS:
        if kept.get("machine", {}).get(key) != doc["machine"].get(key):
            out.append(f"{key} {kept.get('machine', {}).get(key)!r} then, {doc['machine'].get(key)!r} now")
    for key in _OPTION_KEYS:
        if kept.get("options", {}).get(key) != doc["options"].get(key):
            out.append(f"{key} {kept.get('options', {}).get(key)} then, {doc['options'].get(key)} now")
    if kept.get("quick") != doc["quick"]:
        out.append("a quick run then, a full one now" if kept.get("quick") else "a full run then, a quick one now")
    if kept.get("council") != doc["council"]:
        out.append(f"council {kept.get('council')} then, {doc['council']} now")
    return out


def keep(doc: dict[str, Any], out: Path) -> None:
    """Write the document so far, atomically (a kill mid-write leaves the previous copy)."""
    out.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".bench-partial-", dir=out)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(doc, stream, indent=1, default=str)
    os.replace(temporary, partial_path(out))


def new_part(load_average: list[float]) -> dict[str, Any]:
    """The record of one sitting; its end and seconds are filled in as it goes."""
    return {"started_at": time.time(), "load_average_at_start": load_average, "sections": [], "seconds": 0.0}


def finish(out: Path) -> None:
    """The run is complete: its partial copy is no longer needed."""
    partial_path(out).unlink(missing_ok=True)
