"""The suite stops itself when system RAM passes the hard limit, as the seed promised.

Memory is read the way the RAM guard reads it (cgroup-aware). Before every test, and every
second from a watchdog thread while a long test runs: over the limit, the suite exits with
a message saying what was measured, the limit, and what to do. LIVEMIND_TEST_RAM_LIMIT (a
percent, default 90) moves the limit.
"""

from __future__ import annotations

import _thread
import os
import sys
import threading
from collections.abc import Callable

import pytest

from livemind.engine.ram import read_memory

LIMIT_ENV = "LIVEMIND_TEST_RAM_LIMIT"
DEFAULT_LIMIT_PERCENT = 90.0
WATCH_INTERVAL_S = 1.0


def limit_percent() -> float:
    """The limit in percent of system memory (LIVEMIND_TEST_RAM_LIMIT or 90)."""
    return float(os.environ.get(LIMIT_ENV) or DEFAULT_LIMIT_PERCENT)


def over_limit_message(limit: float) -> str | None:
    """Why the suite must stop now, or None when memory is under the limit."""
    reading = read_memory()
    if reading.percent <= limit:
        return None
    return (f"system RAM is at {reading.percent:.1f}% ({reading.used / 2**30:.1f} of {reading.total / 2**30:.1f} GiB), "
            f"over the {limit:.0f}% limit: the suite stopped itself so the machine stays up. Close what else "
            f"uses memory, or set {LIMIT_ENV} to a higher percent if this machine can afford it.")


class RamWatch:
    """A daemon thread that interrupts the suite once memory passes the limit."""

    def __init__(self, limit: float, on_over: Callable[[], None] = _thread.interrupt_main) -> None:
        self.limit = limit
        self.on_over = on_over  # default: KeyboardInterrupt in the main thread, pytest stops with a summary
        self.reason: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livemind-test-ram-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL_S):
            message = over_limit_message(self.limit)
            if message:
                self.reason = message
                print(f"\nlivemind: {message}", file=sys.stderr, flush=True)
                self.on_over()
                return


def check_before_test() -> None:
    """Stop the session before a test starts when memory is already over the limit."""
    message = over_limit_message(limit_percent())
    if message:
        pytest.exit(message, returncode=3)


# -- pytest hooks (tests/conftest.py imports them; `-p tests.support.ram_watch` loads them alone) ------------

_watch: RamWatch | None = None


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start the watchdog."""
    global _watch
    _watch = RamWatch(limit_percent())
    _watch.start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the watchdog."""
    if _watch is not None:
        _watch.stop()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Refuse to start a test over the limit."""
    check_before_test()
