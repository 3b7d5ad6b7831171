"""tools/import_graph.py: the package has no import circle and no room imports a higher one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import import_graph  # noqa: E402 (tools/ is not a package)


def test_the_package_has_no_circle_and_every_import_points_down() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "import_graph.py")], capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert "floor  0:" in run.stdout and "0 problems" in run.stdout


def test_a_circle_is_found_and_reported() -> None:
    graph = {"livemind.a": {"livemind.b"}, "livemind.b": {"livemind.c"}, "livemind.c": {"livemind.a"},
             "livemind.d": {"livemind.a"}}
    assert import_graph.circles(graph) == [["livemind.a", "livemind.b", "livemind.c"]]


def test_floors_rise_one_above_the_highest_import() -> None:
    graph = {"livemind.errors": set(), "livemind.types": {"livemind.errors"},
             "livemind.engine.pool": {"livemind.types", "livemind.errors"}}
    assert import_graph.floors(graph) == {"livemind.errors": 0, "livemind.types": 1, "livemind.engine.pool": 2}


@pytest.mark.parametrize(("importer", "imported", "breaks"), [
    ("livemind.engine.scheduler", "livemind.council.nodes", True),
    ("livemind.events", "livemind.council.prompts", True),
    ("livemind.council.nodes", "livemind.engine.scheduler", False),
    ("livemind.http.app", "livemind.mcp.server", False),
])
def test_an_import_into_a_higher_room_is_a_break(importer: str, imported: str, breaks: bool) -> None:
    graph = {importer: {imported}, imported: set()}
    assert bool(import_graph.layer_breaks(graph)) is breaks
