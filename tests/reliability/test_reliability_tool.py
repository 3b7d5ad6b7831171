"""tools/reliability.py end to end on checks made to fail: a fault that breaks shows as not survived.

The generator runs pytest on a small file of fault checks (one holds, one breaks, one is skipped by
its fixture before its body runs, one load check measures and then fails its assertion), exactly
as it runs the real ones, then renders the page from the raw results that run left.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.servers import REPO

CHECKS = textwrap.dedent('''
    import pytest

    @pytest.fixture
    def no_disk():
        pytest.skip("cannot mount a tmpfs here")

    @pytest.mark.fault(fault="a fault that holds", simulated="", kept="every answer")
    def test_holds():
        assert 1 + 1 == 2

    @pytest.mark.fault(fault="a fault that breaks {which}", simulated="a scripted engine", kept="nothing, it turns out")
    @pytest.mark.parametrize("which", ["the server"])
    def test_breaks(which):
        assert which == "survives", "the server died"

    @pytest.mark.fault(fault="a fault never injected", simulated="", kept="unknown")
    def test_not_injected(no_disk):
        raise AssertionError("never reached")

    def test_load_that_measures_then_fails(record):
        record(kind="load", run="ci-fake", http_clients=10, http_attempts=14, mcp_calls=0, http_served=6, mcp_served=0,
               clients_gave_up=4, concurrency=2, refused_429=8, refused_503=0, refused_with_retry_after=5,
               mcp_busy=0, mcp_busy_with_retry_after=0, errors=0, p50_ms=1.0, p99_ms=2.0, incomplete=1,
               rss_baseline_mib=100.0, rss_end_mib=101.0, rss_peak_mib=101.0, rss_peak_above_baseline_mib=1.0,
               rss_growth_mib=1.0, rss_drift_after_first_quarter_mib=0.5, pool_peak_mib=0.0, budget_mib=0.0, samples=4)
        assert False, "3 refusals came without Retry-After"
''')
CONFTEST = "from tests.support.recording import pytest_runtest_makereport, record  # noqa: F401\n"
PYTEST_INI = "[pytest]\nmarkers =\n    fault(fault, simulated, kept): a fault check\n"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reliability_tool", REPO / "tools" / "reliability.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_a_fault_check_that_fails_or_is_skipped_is_counted_as_not_survived(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "test_made_up_faults.py").write_text(CHECKS)
    (checks / "conftest.py").write_text(CONFTEST)
    (checks / "pytest.ini").write_text(PYTEST_INI)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    tool = _tool()
    out = tmp_path / "raw"

    run = tool.run_pytest(out, soak=False, targets=["test_made_up_faults.py"], python=Path(sys.executable), cwd=checks)
    page = tool.render(tool.read_run(out))

    assert {o.status for o in run.outcomes.values()} == {"passed", "failed", "skipped"}
    assert "| faults survived / attempted | 1 / 3 (1 failed, 1 skipped);" in page, page
    assert "| a fault that holds | real | every answer | yes |" in page
    assert "| a fault that breaks the server | simulated: a scripted engine | nothing, it turns out | **NO** |" in page
    assert "| a fault never injected | real | unknown | skipped (not injected) |" in page
    load = next(line for line in page.splitlines() if line.startswith("| requests under load, scripted engine"))
    assert "8 refusals (429/503), 5 of them with Retry-After" in load, load
    assert "6 and 0 served, 1 of them incomplete" in load
    assert "**the check failed**: AssertionError: 3 refusals came without Retry-After" in load, load
    assert "measured memory against the RAM budget" not in page, "no real-model run: no budget row"
    rows = [line for line in page.splitlines() if line.startswith("| ")]
    assert not [row for row in rows if "soak" in row or "not run" in row or "not checked" in row], \
        "checks that did not run have no rows"
    assert "| `test_made_up_faults.py::test_breaks[the server]` | failed |" in page
