"""`livemind doctor`: the CPU probe, the chosen build profile, the engine's own SIMD flags, a smoke decode.

The three must agree: what the CPU offers (native/cpuprobe.c), the profile the engine was
built with (the venv's engine marker), and what the loaded llama.cpp library reports
(`llama_print_system_info`). Any SIMD path the CPU has but the build lacks is named with the
command that rebuilds it; a build that would crash is flagged.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from livemind_native.diagnosis import diagnose
from livemind_native.home import probe_cache_dir
from livemind_native.marker import read_marker
from livemind_native.probe import probe
from livemind_native.profiles import select_profile
from livemind_native.smoke import run_smoke, venv_of
from rich.console import Console
from rich.table import Table

from livemind.engine.backends.llama_cpp import engine_version, system_info
from livemind.engine.catalog import ModelCatalog
from livemind.environment import EdgeSettings


def collect_report(settings: EdgeSettings, *, smoke: bool) -> dict[str, Any]:
    """Everything doctor knows, as JSON-able data."""
    python = Path(sys.executable)
    venv = venv_of(python)
    probe_result = probe(probe_cache_dir(settings.home))
    profile = select_profile(probe_result)
    marker = read_marker(venv)
    info = system_info()
    diagnosis = diagnose(probe_result, marker.profile if marker else None, info, venv=str(venv))
    report: dict[str, Any] = {
        "probe": dict(probe_result),
        "profile": {"name": profile.name, "description": profile.description, "cmake_args": list(profile.cmake_args),
                    "expected_system_info": list(profile.expected_system_info), "sources": list(profile.sources)},
        "installed": marker.to_dict() if marker else None,
        "engine": {"llama_cpp_python": engine_version(), "system_info": info.strip()},
        "diagnosis": dict(diagnosis),
        "smoke": None,
    }
    if smoke:
        catalog = ModelCatalog(settings.home)
        model = catalog.path_of(catalog.entry("smollm2-135m"))
        report["smoke"] = asdict(run_smoke(python, model, probe_result=probe_result))
    return report


def run_doctor(settings: EdgeSettings, *, as_json: bool, smoke: bool, console: Console) -> int:
    """Print the report; exit 0 when everything agrees and the smoke decode passed."""
    report = collect_report(settings, smoke=smoke)
    diagnosis = report["diagnosis"]
    smoke_ok = report["smoke"] is None or report["smoke"]["ok"]
    healthy = bool(diagnosis["agree"]) and smoke_ok and not diagnosis["crash_risks"]
    if as_json:
        sys.stdout.write(json.dumps({**report, "healthy": healthy}, indent=2) + "\n")
        return 0 if healthy else 1
    features = [name for name, present in report["probe"]["features"].items() if present]
    console.print(f"[bold]CPU[/] ({report['probe']['arch']}, via {report['probe']['source']}): {' '.join(features)}")
    if report["probe"].get("note"):
        console.print(f"[yellow]note:[/] {report['probe']['note']}")
    installed = report["installed"]["profile"] if report["installed"] else "unknown (no engine marker)"
    console.print(f"[bold]build profile[/]: chosen for this CPU {report['profile']['name']}, installed {installed}")
    if report["installed"]:
        patches = ", ".join(report["installed"].get("patches") or ()) or "none"
        console.print(f"[bold]source patches[/] in the engine build: {patches}")
    table = Table("SIMD path", "CPU", "engine")
    cpu_paths = set(diagnosis["cpu"]["simd_paths"])
    engine_paths = set(diagnosis["engine"]["simd_paths"])
    for path in sorted(cpu_paths | engine_paths):
        table.add_row(path, "yes" if path in cpu_paths else "-", "yes" if path in engine_paths else "-")
    console.print(table)
    console.print(f"[bold]engine[/] llama-cpp-python {report['engine']['llama_cpp_python']}: {report['engine']['system_info']}")
    for message in diagnosis["messages"]:
        console.print(f"  {message}")
    if report["smoke"] is not None:
        s = report["smoke"]
        style = "green" if s["ok"] else "red"
        console.print(f"[bold]smoke decode[/]: [{style}]{s['status']}[/] — {s['message']}")
    console.print(f"[bold]verdict[/]: {diagnosis['verdict']}" + ("" if healthy else " (see above)"))
    return 0 if healthy else 1
