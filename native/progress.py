"""A one-line progress display for long builds: spinner, elapsed time, last build line.

On a terminal the line redraws in place. Elsewhere (CI logs, pipes) it prints a
plain line every `plain_interval` seconds, so logs stay readable.
"""

import collections
import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from typing import TextIO

_SPINNER = "|/-\\"
_MAKE_STEP = re.compile(r"^\[\s*\d+%\]")
_NINJA_STEP = re.compile(r"^\[(\d+)/(\d+)\]\s+(.*)$")
_COMPILED_SOURCE = re.compile(r"\s-c\s+(\S+)")
_LINKED_OUTPUT = re.compile(r"\s-o\s+(\S+)")
# Compiler command lines are thousands of characters of flags; they say nothing at a glance.
_LONGEST_USEFUL_LINE = 200


def summarize_build_line(line: str) -> tuple[str, bool] | None:
    """Shorten one line of build output to (text, is_step), or None if it says nothing useful.

    Make prints "[ 42%] Building CXX object ..."; verbose Ninja prints "[27/193] <compiler
    command>", which becomes "[27/193] 14% ops.cpp".
    """
    text = line.strip()
    if _MAKE_STEP.match(text):
        return text, True
    ninja = _NINJA_STEP.match(text)
    if ninja:
        done, total, command = int(ninja.group(1)), int(ninja.group(2)), ninja.group(3)
        source = _COMPILED_SOURCE.search(command)
        output = _LINKED_OUTPUT.search(command)
        if source:
            what = source.group(1).rsplit("/", 1)[-1]
        elif output:
            what = "linking " + output.group(1).rsplit("/", 1)[-1]
        else:
            what = command[:60]
        return f"[{done}/{total}] {100 * done // max(total, 1)}% {what}", True
    if text and len(text) <= _LONGEST_USEFUL_LINE:
        return text, False
    return None


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
        self._seen_step = False
        self.last_line = ""

    @property
    def elapsed(self) -> float:
        """Seconds since the display started."""
        return self._clock() - self._started

    def feed(self, line: str) -> None:
        """Take one line of build output; remember it if it says where the build is."""
        summary = summarize_build_line(line)
        # Once the build shows steps, keep the last step rather than chatter between steps.
        if summary is not None and (summary[1] or not self._seen_step):
            self.last_line, is_step = summary
            self._seen_step = self._seen_step or is_step
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


def run_streaming(
    command: list[str],
    environment: dict[str, str],
    log: TextIO,
    status: StatusLine,
    tail: collections.deque[str],
) -> int:
    """Run a command, logging every line and refreshing the status line while it runs."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump(stream: TextIO) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    with subprocess.Popen(
        command,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as process:
        assert process.stdout is not None
        reader = threading.Thread(target=pump, args=(process.stdout,), daemon=True)
        reader.start()
        try:
            while True:
                try:
                    line = lines.get(timeout=0.5)
                except queue.Empty:
                    status.refresh()
                    continue
                if line is None:
                    break
                log.write(line)
                tail.append(line)
                status.feed(line)
            reader.join()
            return process.wait()
        except BaseException:
            process.terminate()
            process.wait()
            raise
