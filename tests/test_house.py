"""The house rules a reviewer checks first: the package lints and type-checks clean, and the tests mirror it.

This file stays at the top of tests/ because it checks the whole repository. Other top-level test
files mirror a top-level module of the package (tests/test_config.py ↔ livemind/config.py).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
UNMIRRORED = {"support", "fixtures", "interfaces", "reliability"}
"""Test folders with no package or repository folder of their name: shared helpers, data, one request through
several adapters, and the fault, load, fuzz and security checks."""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          check=False)


@pytest.mark.slow
def test_the_package_type_checks_with_the_pydantic_plugin() -> None:
    done = _run("mypy", "livemind")
    assert done.returncode == 0, done.stdout[-4000:]


def test_the_code_and_tests_lint_clean() -> None:
    done = _run("ruff", "check", "livemind", "tests", "tools", "native")
    assert done.returncode == 0, done.stdout[-4000:]


MODULE_LINES = 400
FUNCTION_LINES = 60


def size_problems(root: Path) -> list[str]:
    """Modules over MODULE_LINES lines and functions over FUNCTION_LINES lines under root (paths relative to it)."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if (lines := len(source.splitlines())) > MODULE_LINES:
            problems.append(f"{path.relative_to(root)}: {lines} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > FUNCTION_LINES:
                    problems.append(f"{path.relative_to(root)}:{node.lineno} {node.name}(): {length} lines")
    return problems


def test_no_module_is_over_400_lines_and_no_function_over_60() -> None:
    assert size_problems(ROOT / "livemind") == []


def test_the_size_rule_catches_a_long_function_and_a_long_module(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES))
    (tmp_path / "long.py").write_text(f"def long():\n{body}\n" + "\n" * MODULE_LINES, encoding="utf-8")
    assert size_problems(tmp_path) == [f"long.py: {MODULE_LINES + FUNCTION_LINES + 1} lines",
                                       f"long.py:1 long(): {FUNCTION_LINES + 1} lines"]


def test_every_subpackage_is_in_the_wheel() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "livemind").rglob("__init__.py")}
    assert found <= listed, f"missing from [tool.setuptools] packages: {sorted(found - listed)}"


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted module) of every import in a file, relative ones resolved; `from m import x` also names m.x."""
    package = path.relative_to(ROOT).parent.parts
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join([*package[:len(package) - node.level + 1], *([node.module] if node.module else [])]
                            if node.level else [node.module or ""])
            yield node.lineno, base
            yield from ((node.lineno, f"{base}.{alias.name}") for alias in node.names)


def _is_module(dotted: str) -> bool:
    return (ROOT / Path(*dotted.split("."))).with_suffix(".py").is_file()


def _import_problem(path: Path, module: str) -> str | None:
    """Why a test file may not import `module`, or None: only tests.support, a conftest of its own folder or one
    above it, and a helper module (not a test module) of its own folder are allowed."""
    if not module.startswith("tests.") or not _is_module(module) or module.startswith("tests.support."):
        return None
    folder, name = module.rsplit(".", 1)
    own = ".".join(path.relative_to(ROOT).parent.parts)
    if name == "conftest" and (own == folder or own.startswith(folder + ".")):
        return None
    if name.startswith("test_"):
        return "imports a test module: move what it shares to tests/support/"
    if folder != own:
        return "imports a helper of another test folder: shared helpers live in tests/support/"
    return None


def test_no_test_module_imports_another_and_shared_helpers_live_in_support() -> None:
    problems = [f"{path.relative_to(ROOT)}:{line}: {module} ({why})"
                for path in sorted(TESTS.rglob("*.py"))
                for line, module in _imports(path)
                if (why := _import_problem(path, module)) is not None]
    assert not problems, "\n".join(problems)


def test_the_rule_catches_an_import_of_a_test_module_and_of_another_folder_s_helper() -> None:
    importer = TESTS / "http" / "test_http_inprocess.py"
    assert _import_problem(importer, "tests.mcp.test_mcp") is not None
    assert _import_problem(importer, "tests.sandbox.attacks") is not None
    assert _import_problem(importer, "tests.support.minds") is None
    assert _import_problem(importer, "tests.conftest") is None
    assert _import_problem(TESTS / "sandbox" / "test_containment.py", "tests.sandbox.attacks") is None


def test_the_test_tree_mirrors_the_package() -> None:
    top = {p.name for p in TESTS.glob("test_*.py")}
    unmirrored = {name for name in top
                  if name != "test_house.py" and not (ROOT / "livemind" / name.removeprefix("test_")).is_file()}
    assert not unmirrored, f"move {sorted(unmirrored)} into the tests/ folder of the package module they test"
    folders = [p.parent.relative_to(TESTS) for p in TESTS.rglob("*.py") if p.parent != TESTS]
    stray = {str(f) for f in folders if f.parts[0] not in UNMIRRORED and not (ROOT / "livemind" / f).is_dir()
             and not (ROOT / f).is_dir()}
    assert not stray, f"test folders with no package folder of that name: {sorted(stray)}"
    bare = {str(f) for f in folders if not (TESTS / f / "__init__.py").is_file()}
    assert not bare, f"test folders without __init__.py (tests with one basename in two folders collide): {sorted(bare)}"
