"""The house rules a reviewer checks first: the package lints clean and type-checks clean."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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


def test_every_subpackage_is_in_the_wheel() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "livemind").rglob("__init__.py")}
    assert found <= listed, f"missing from [tool.setuptools] packages: {sorted(found - listed)}"
