"""docs/from-arm-axion.md's figures are the committed data's: tools/arm_axion_map.py --check.

The check runs on the committed page, bench.json and reliability results; then on a copy of the
bench whose figure changed, where it must fail and write the new figure.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.servers import REPO

TOOL = REPO / "tools" / "arm_axion_map.py"
BENCH = REPO / "docs" / "bench" / "2026-12-03-default-full" / "bench.json"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=300, check=False)


def test_the_page_s_figures_are_the_ones_the_committed_data_gives() -> None:
    done = run("--check")
    assert done.returncode == 0, f"{done.stderr}\nrun: .venv/bin/python tools/arm_axion_map.py"


def test_a_figure_that_differs_from_the_data_fails_the_check_and_is_rewritten(tmp_path: Path) -> None:
    bench = json.loads(BENCH.read_text())
    bench["latency_reduction_vs_baseline"] = 0.5
    bench["sections"]["attribution"]["configs"]["livemind_batched"]["latencies_s"][0] += 3.0
    changed = tmp_path / "bench.json"
    changed.write_text(json.dumps(bench))
    doc = tmp_path / "from-arm-axion.md"
    doc.write_text((REPO / "docs" / "from-arm-axion.md").read_text())

    refused = run("--check", "--bench", str(changed), "--doc", str(doc))
    assert refused.returncode == 1 and "differs from the data" in refused.stderr
    assert run("--bench", str(changed), "--doc", str(doc)).returncode == 0
    page = doc.read_text()
    assert "`latency_reduction_vs_baseline` **0.500**" in page
    assert "`latency_spread_vs_baseline` **0.856**" not in page, "the spread follows the stored latencies"
    assert run("--check", "--bench", str(changed), "--doc", str(doc)).returncode == 0
