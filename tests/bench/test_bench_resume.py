"""An interrupted `livemind bench` resumes: finished sections are kept, the missing ones measured.

Real processes on the real tiny council, two fast sections (routing and KV memory). The unfinished
run is made from a finished one's bench.json with a section taken out, which is what the bench
keeps after a kill between sections.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from livemind.bench.progress import PARTIAL_NAME

pytestmark = pytest.mark.slow
SECTIONS = ["--quick", "--no-http", "--only", "routing,kv_memory"]


def _bench(home: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "livemind.cli.main", "bench", *SECTIONS, "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=900, check=False,
                          env={**os.environ, "LIVEMIND_HOME": str(home), "COLUMNS": "500"})  # no wrapped log lines


def test_a_run_resumes_where_it_stopped_and_refuses_a_run_from_another_setup(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    first = _bench(home, out)
    assert first.returncode == 0, first.stderr[-3000:]
    assert not (out / PARTIAL_NAME).exists(), "a finished run leaves no partial copy"
    doc = json.loads((out / "bench.json").read_text())
    assert set(doc["sections"]) == {"routing", "kv_memory"} and len(doc["parts"]) == 1

    # Killed after the KV section (it runs first): the kept copy holds it alone, marked to see it is not measured again.
    kept = {**doc, "sections": {"kv_memory": {**doc["sections"]["kv_memory"], "ratio": 0.5125}},
            "section_seconds": {"kv_memory": doc["section_seconds"]["kv_memory"]}}
    (out / "bench.json").unlink()
    (out / PARTIAL_NAME).write_text(json.dumps(kept))
    second = _bench(home, out)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming the run in" in second.stderr and "already measured: kv_memory\n" in second.stderr
    resumed = json.loads((out / "bench.json").read_text())
    assert resumed["kv_q8_vs_f16_memory"] == 0.5125, "the kept section was not measured again"
    assert resumed["routing_p50_ms"] is not None and resumed["routing_p50_ms"] > 0
    assert [p["sections"] for p in resumed["parts"]] == [["kv_memory", "routing"], ["routing"]]
    assert "measured in 2 parts" in (out / "report.md").read_text()
    assert not (out / PARTIAL_NAME).exists()

    # A kept run from another CPU is refused, saying what differs and what to do.
    (out / PARTIAL_NAME).write_text(json.dumps({**kept, "machine": {**kept["machine"], "cpu": "Another CPU"}}))
    refused = _bench(home, out)
    assert refused.returncode == 2
    assert "measured differently: cpu 'Another CPU' then" in refused.stderr and "--restart" in refused.stderr
    assert (out / PARTIAL_NAME).exists(), "a refused resume keeps what was measured"
    again = _bench(home, out, "--restart")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "dropped the unfinished run" in again.stderr
    assert len(json.loads((out / "bench.json").read_text())["parts"]) == 1
