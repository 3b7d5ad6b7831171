"""`livemind doctor --json`: the probe, the chosen profile and the engine's own flags agree here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_doctor_json_shows_probe_profile_engine_flags_and_a_passing_smoke_decode(home: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "livemind.cli.main", "doctor", "--json"], capture_output=True,
                          text=True, env={**os.environ, "LIVEMIND_HOME": str(home)}, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["healthy"] is True
    assert report["installed"]["profile"] == report["profile"]["name"]
    diagnosis = report["diagnosis"]
    assert diagnosis["agree"] and not diagnosis["crash_risks"]
    # every SIMD path the chosen profile promises is in the loaded engine's own system info
    for flag in report["profile"]["expected_system_info"]:
        assert f"{flag} = 1" in report["engine"]["system_info"]
    assert report["smoke"]["ok"] and report["smoke"]["tokens_out"] > 0
