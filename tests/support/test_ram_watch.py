"""The suite stops itself when system RAM passes its limit (the seed's promise)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from tests.support.ram_watch import LIMIT_ENV, RamWatch, over_limit_message
from tests.support.servers import REPO


def test_under_the_limit_nothing_happens_and_over_it_the_message_says_what_to_do() -> None:
    assert over_limit_message(100.0) is None
    message = over_limit_message(0.0)
    assert message is not None and "over the 0% limit" in message and LIMIT_ENV in message and "GiB" in message


def test_the_watchdog_fires_once_memory_is_over_the_limit() -> None:
    fired = threading.Event()
    watch = RamWatch(0.0, on_over=fired.set)
    watch.start()
    try:
        assert fired.wait(10), "the watchdog noticed within a few intervals"
    finally:
        watch.stop()
    assert watch.reason is not None and "stopped itself" in watch.reason


def test_a_suite_over_the_limit_stops_before_its_next_test(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text("def test_one():\n    assert True\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.support.ram_watch", "-p", "no:cacheprovider",
                           str(tmp_path / "test_sample.py")], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, LIMIT_ENV: "0.01"})
    output = done.stdout + done.stderr
    assert done.returncode == 3, output
    assert "the suite stopped itself" in output and "1 passed" not in output
