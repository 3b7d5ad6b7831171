"""Rows for docs/reliability.md, written whatever a check's outcome: passed, failed or skipped.

- `@pytest.mark.fault(fault=..., simulated=..., kept=...)` declares a fault check's row before the
  test runs (`simulated=""` for a fault that is wholly real; `{param}` in the texts is filled from
  the test's parameters). When the test is over (setup, call and teardown), one `kind: fault` line
  is appended with its `outcome` and, unless it passed, `why`. A check that fails, or is skipped by
  a fixture before its body runs, therefore still has its row, and the table counts it as not
  survived.
- `record(**figures)` buffers the figures a test measured; they are written at the same moment,
  with the test's outcome beside them, so figures measured before a failing assertion are kept.

Lines go to $LIVEMIND_RELIABILITY_OUT/figures.jsonl; without that variable nothing is written.
tests/conftest.py imports the hook and the fixture, so they apply to every test of the suite
(the SIGKILL and SIGTERM checks live outside tests/reliability). tools/reliability.py reads the
lines with the JUnit report.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

OUT_ENV = "LIVEMIND_RELIABILITY_OUT"
FAULT_MARK = "fault"
Record = Callable[..., None]

_REPORTS = pytest.StashKey[list[pytest.TestReport]]()
_FIGURES = pytest.StashKey[list[dict[str, Any]]]()


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Record:
    """Buffer figures for the reliability table; written with the test's outcome when it ends."""
    buffered = request.node.stash.setdefault(_FIGURES, [])

    def write(**figures: Any) -> None:
        buffered.append(figures)

    return write


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Keep every phase's report; after teardown, write the test's rows with its outcome."""
    result = yield
    report: pytest.TestReport = result.get_result()
    reports = item.stash.setdefault(_REPORTS, [])
    reports.append(report)
    if report.when == "teardown":
        _write_rows(item, reports)


def outcome_of(reports: list[pytest.TestReport]) -> tuple[str, str]:
    """(passed | failed | skipped, why) over a test's setup, call and teardown."""
    for report in reports:
        if report.failed:
            return "failed", _first_line(_failure_text(report))
    for report in reports:
        if report.skipped:
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
            return "skipped", _first_line(str(reason).removeprefix("Skipped: "))
    return "passed", ""


def _failure_text(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = getattr(crash, "message", None) or report.longreprtext
    return f"{report.when}: {text}" if report.when != "call" else text


def _first_line(text: str) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line[:300]


def _write_rows(item: pytest.Item, reports: list[pytest.TestReport]) -> None:
    out = os.environ.get(OUT_ENV)
    if not out:
        return
    outcome, why = outcome_of(reports)
    lines: list[dict[str, Any]] = []
    marker = item.get_closest_marker(FAULT_MARK)
    if marker is not None:
        params = getattr(getattr(item, "callspec", None), "params", {})
        row = {key: value.format(**params) if isinstance(value, str) else value for key, value in marker.kwargs.items()}
        lines.append({"kind": "fault", **row})
    lines += item.stash.get(_FIGURES, [])
    if not lines:
        return
    Path(out).mkdir(parents=True, exist_ok=True)
    with (Path(out) / "figures.jsonl").open("a", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps({"test": item.nodeid, **line, "outcome": outcome,
                                     **({"why": why} if why else {})}) + "\n")
