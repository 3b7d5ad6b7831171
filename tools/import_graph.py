#!/usr/bin/env python3
"""The package's import graph: its floors, its circles and its layering, read from the source with ast.

    python tools/import_graph.py            print the floors (rooms and modules), exit 1 on a circle or a layer break
    python tools/import_graph.py --modules  one line per module with its floor, for a closer look

A module's floor is one above the highest floor it imports (a module importing nothing of the
package sits on floor 0). Every import counts: module level, inside a function (a lazy import)
and under `if TYPE_CHECKING:` — a circle hidden behind a lazy import is still a circle.

The rooms are ranked below (ROOMS). A module may import its own room and any room ranked lower,
never a higher one; in particular nothing below `council/` imports `council/` or anything above
it. The suite runs this (tests/tools/test_import_graph.py).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = "livemind"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

# room -> rank: a module may import rooms of its rank or lower. A room is a subpackage or a top-level module.
ROOMS: dict[str, int] = {
    "errors": 0, "types": 0, "limits": 0, "bridge": 0, "version": 0,
    "config": 1, "chat": 1,
    "engine": 2, "sandbox": 2, "events": 2, "environment": 2,
    "council": 3,
    "async_api": 4, "orchestrator": 4, "opening": 4,
    "server": 5,
    "http": 6, "mcp": 6,
    "bench": 7, "evaluation": 7,
    "cli": 8,
    "__init__": 9,  # the package's face re-exports the API
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def room_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _resolve_from(node: ast.ImportFrom, module: str, is_package: bool) -> str | None:
    if node.level == 0:
        return node.module
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package modules one file imports (a `from pkg import sub` that names a submodule counts as sub)."""
    module = module_name(path)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve_from(node, module, path.name == "__init__.py")
            if target is None:
                continue
            names = [f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:  # `import livemind.engine.pool.X` -> the nearest module
                name = name.rpartition(".")[0]
            if name and name != module and name.startswith(PACKAGE):
                found.add(name)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    files = {module_name(p): p for p in sorted(root.rglob("*.py"))}
    return {name: imports_of(path, set(files)) for name, path in files.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def floors(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each module's floor (modules in a circle share the floor of the circle)."""
    floor: dict[str, int] = {}
    visiting: set[str] = set()

    def visit(name: str) -> int:
        if name in floor:
            return floor[name]
        if name in visiting:  # a circle: counted on the floor where it was entered
            return 0
        visiting.add(name)
        floor[name] = 1 + max((visit(dep) for dep in graph[name]), default=-1)
        visiting.discard(name)
        return floor[name]

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for name in graph:
        visit(name)
    return floor


def layer_breaks(graph: dict[str, set[str]]) -> list[str]:
    """Imports that reach a room ranked above the importer's."""
    breaks = []
    for module, deps in sorted(graph.items()):
        rank = ROOMS.get(room_of(module))
        if rank is None:
            breaks.append(f"{module}: room '{room_of(module)}' has no rank in ROOMS")
            continue
        for dep in sorted(deps):
            dep_rank = ROOMS.get(room_of(dep), rank)
            if dep_rank > rank:
                breaks.append(f"{module} (room {room_of(module)}, rank {rank}) imports {dep} "
                              f"(room {room_of(dep)}, rank {dep_rank})")
    return breaks


def report(graph: dict[str, set[str]], *, per_module: bool) -> str:
    floor = floors(graph)
    lines = []
    if per_module:
        lines += [f"{floor[m]:3d}  {m}" for m in sorted(graph, key=lambda m: (floor[m], m))]
    else:
        by_floor: dict[int, list[str]] = defaultdict(list)
        for module, level in floor.items():
            by_floor[level].append(module.removeprefix(f"{PACKAGE}."))
        for level in sorted(by_floor):
            lines.append(f"floor {level:2d}: {', '.join(sorted(by_floor[level]))}")
    rooms: dict[str, int] = defaultdict(int)
    for module, level in floor.items():
        rooms[room_of(module)] = max(rooms[room_of(module)], level)
    lines.append("")
    lines.append("rooms (rank, highest module floor): " + ", ".join(
        f"{r} ({ROOMS.get(r, '?')}, {rooms[r]})" for r in sorted(rooms, key=lambda r: (ROOMS.get(r, 99), r))))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", action="store_true", help="one line per module with its floor")
    args = parser.parse_args(argv)
    graph = import_graph()
    print(report(graph, per_module=args.modules))
    problems = [f"import circle: {' <-> '.join(c)}" for c in circles(graph)] + layer_breaks(graph)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"\n{len(graph)} modules, {sum(map(len, graph.values()))} imports, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
