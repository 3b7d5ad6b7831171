"""tools/livemind-server.sh, the seed's safe start script: checks first, starts, reports, stops.

Runs the real script with bash: a real `livemind serve --axion-ports` in the background on the
tiny models, its pid file and log, and a refusal when the RAM gauge (simulated through
LIVEMIND_START_RAM_PERCENT, read by the script alone) is past the hard limit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.servers import REPO, clean_env, four_free_ports

pytestmark = pytest.mark.slow
SCRIPT = REPO / "tools" / "livemind-server.sh"


def run(env: dict[str, str], *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.fixture
def env(home: Path, tmp_path: Path) -> dict[str, str]:
    return clean_env(LIVEMIND_HOME=str(home), LIVEMIND_RUN_DIR=str(tmp_path / "run"), LIVEMIND_PYTHON=sys.executable)


def test_start_is_refused_when_ram_is_already_past_the_hard_limit(env: dict[str, str], tmp_path: Path) -> None:
    done = run({**env, "LIVEMIND_START_RAM_PERCENT": "93.5"}, "start")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "refusing to start: system RAM is at 93.5% (simulated by LIVEMIND_START_RAM_PERCENT), past the hard " \
           "limit of 90%" in done.stderr
    assert not (tmp_path / "run" / "livemind-server.pid").exists(), "nothing was started"
    assert "starting" not in done.stdout


def test_start_warns_past_the_soft_target_and_refuses_a_council_whose_model_is_missing(
        env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty-home"
    empty.mkdir()
    done = run({**env, "LIVEMIND_HOME": str(empty), "LIVEMIND_START_RAM_PERCENT": "85"}, "start")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "councils will take turns" in done.stdout
    assert "refusing to start:" in done.stderr and "model file missing" in done.stderr, done.stderr
    assert "livemind models pull" in done.stderr


def test_start_reports_and_stop_the_four_port_server(env: dict[str, str], tmp_path: Path) -> None:
    base = four_free_ports()
    started = run(env, "start", "--axion-ports", str(base))
    pid_file = tmp_path / "run" / "livemind-server.pid"
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "RAM " in started.stdout and "models present: gemma3-270m, smollm2-135m" in started.stdout
        pid = int(pid_file.read_text())
        assert psutil.pid_exists(pid)
        assert f"health on port {base}: ready" in started.stdout
        assert all(f"serving http://127.0.0.1:{p}" in started.stdout for p in range(base, base + 4)), started.stdout
        answer = httpx.post(f"http://127.0.0.1:{base}/v1/chat/completions", timeout=300,
                            json={"model": "generalist", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4})
        assert answer.status_code == 200, answer.text
        status = run(env, "status")
        assert status.returncode == 0 and f"running (pid {pid})" in status.stdout, status.stdout + status.stderr
        assert "loaded: smollm2-135m" in status.stdout, status.stdout
        again = run(env, "start", "--axion-ports", str(base))
        assert again.returncode == 3 and f"already running (pid {pid})" in again.stderr
    finally:
        stopped = run(env, "stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "models still loaded: none" in stopped.stdout, stopped.stdout
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not pid_file.exists()
    assert run(env, "status").returncode == 4
    log = (tmp_path / "run" / "livemind-server.log").read_text()
    assert "shutdown: cancelled 0 requests" in log, log[-2000:]
    assert os.access(SCRIPT, os.X_OK)
