"""`livemind bench --quick` as a user runs it: a real process, real models, real servers.

Thresholds live in the report, never here: this test checks that every figure was measured
(or explained) and that the files are written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from livemind.bench import KEYS

pytestmark = pytest.mark.slow


@pytest.mark.timeout(1800)  # under a minute on an idle 2-core machine; a shared one can be ten times slower
def test_quick_bench_writes_a_report_json_with_every_key_and_plots(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    done = subprocess.run([sys.executable, "-m", "livemind.cli.main", "bench", "--quick", "--out", str(out)],
                          capture_output=True, text=True, env={**os.environ, "LIVEMIND_HOME": str(home)}, timeout=1700,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads((out / "bench.json").read_text())
    assert doc["quick"] is True and doc["machine"]["cores_available"] >= 1
    for key in KEYS:
        assert key in doc, f"{key} missing from bench.json"
        value = doc[key]
        assert value is None or isinstance(value, int | float), f"{key} is not a figure: {value!r}"
        if value is None:
            assert doc["null_reasons"].get(key), f"{key} is null without a reason"
        assert key in doc["targets"]
    measured = [k for k in KEYS if k != "http_ttft_vs_peer"]
    assert all(doc[k] is not None for k in measured), {k: doc["null_reasons"].get(k) for k in measured}
    assert doc["sections"]["consensus"]["widest_batch"] >= 2, "the personas were batched"
    report = (out / "report.md").read_text()
    assert all(f"`{k}`" in report for k in KEYS)
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["batching.png", "defaults.png", "latency.png", "round_tokens.png"]
    assert all((out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    for key in KEYS:
        assert key in done.stdout, "the headline figures are printed"
