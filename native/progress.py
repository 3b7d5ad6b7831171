"""A one-line progress display for long builds: spinner, elapsed time, last build line.

On a terminal the line redraws in place. Elsewhere (CI logs, pipes) it prints a
plain line every `plain_interval` seconds, so logs stay readable.
"""

import re
import shutil
import time
from collections.abc import Callable
from typing import TextIO

_SPINNER = "|/-\\"
_CMAKE_PROGRESS = re.compile(r"^\s*\[\s*\d+%\]")
# Compiler command lines are thousands of characters of flags; they say nothing at a glance.
_LONGEST_USEFUL_LINE = 200


class StatusLine:
    """Show elapsed time and the latest meaningful build line on one refreshing line."""

    def __init__(
        self,
        stream: TextIO,
        label: str,
        *,
        is_tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        plain_interval: float = 30.0,
    ) -> None:
        self._stream = stream
        self._label = label
        self._is_tty = stream.isatty() if is_tty is None else is_tty
        self._clock = clock
        self._plain_interval = plain_interval
        self._started = clock()
        self._last_drawn = float("-inf")
        self._frame = 0
        self.last_line = ""

    @property
    def elapsed(self) -> float:
        """Seconds since the display started."""
        return self._clock() - self._started

    def feed(self, line: str) -> None:
        """Take one line of build output; remember it if it says where the build is."""
        text = line.strip()
        if _CMAKE_PROGRESS.match(text) or (text and len(text) <= _LONGEST_USEFUL_LINE):
            if _CMAKE_PROGRESS.match(self.last_line) and not _CMAKE_PROGRESS.match(text):
                # Keep showing "[ 42%] Building ..." rather than noise between two steps.
                return
            self.last_line = text
        self.refresh()

    def refresh(self) -> None:
        """Redraw the line (throttled), or print a plain line when the interval has passed."""
        now = self._clock()
        interval = 0.1 if self._is_tty else self._plain_interval
        if now - self._last_drawn < interval:
            return
        self._last_drawn = now
        if self._is_tty:
            self._frame += 1
            width = shutil.get_terminal_size((100, 20)).columns
            text = f"{_SPINNER[self._frame % len(_SPINNER)]} {self._status()}"
            self._stream.write("\r\x1b[K" + text[: max(width - 1, 20)])
        else:
            self._stream.write(self._status() + "\n")
        self._stream.flush()

    def finish(self, message: str) -> None:
        """End the display with a final message on its own line."""
        prefix = "\r\x1b[K" if self._is_tty else ""
        self._stream.write(f"{prefix}{message} ({format_elapsed(self.elapsed)})\n")
        self._stream.flush()

    def _status(self) -> str:
        return f"{self._label} {format_elapsed(self.elapsed)}  {self.last_line}".rstrip()


def format_elapsed(seconds: float) -> str:
    """Format seconds as m:ss."""
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"
