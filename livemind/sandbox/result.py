"""What a sandboxed run returns, and how the way it ended becomes a status."""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from typing import Literal

from livemind.sandbox.limits import Limits

Status = Literal["passed", "failed", "error", "timeout", "memory", "output"]
StopReason = Literal["wall", "output"]

# The last line of an uncaught exception's traceback: "ValueError: ..." or "pkg.mod.Error".
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")


@dataclass(frozen=True)
class SandboxResult:
    """How one sandboxed run ended: its status, exit code, output (each cut to the limit) and time."""

    passed: bool  # exit 0 within every limit
    status: Status  # "passed", "failed" (AssertionError), "error", "timeout", "memory" or "output"
    returncode: int | None  # the program's exit code, -N for signal N; None when LiveMind stopped it
    stdout: str
    stderr: str
    seconds: float  # wall time of the whole run, set-up included
    isolation: str  # the tier it ran under ("namespaces+cgroup", "namespaces", "uid+limits", "limits-only")
    reason: str = ""  # why it ended that way, in words: "CPU time over 2 s", "AssertionError", "exit code 3"


@dataclass(frozen=True)
class Ending:
    """How the worker ended, from the launcher's report line; `signal` is set when a signal killed it."""

    code: int | None
    signal: int | None
    cpu_s: float  # the worker's CPU time with its reaped children

    @classmethod
    def parse(cls, line: str) -> Ending | None:
        """Read an `exit N CPU` or `signal N CPU` line; None for any other line."""
        kind, number, cpu = ([*line.split(" ", 2), "", ""])[:3]
        if kind not in ("exit", "signal") or not number.lstrip("-").isdigit():
            return None
        seconds = float(cpu) if cpu.replace(".", "", 1).isdigit() else 0.0
        if kind == "exit":
            return cls(code=int(number), signal=None, cpu_s=seconds)
        return cls(code=None, signal=int(number), cpu_s=seconds)


@dataclass(frozen=True)
class Verdict:
    """A status with the exit code and the words that explain it."""

    status: Status
    returncode: int | None
    reason: str


def last_exception(stderr: str) -> str | None:
    """The name of the exception an uncaught traceback ends with, if stderr ends with one."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not lines or not any(line.startswith("Traceback (most recent call last):") for line in lines):
        return None
    found = _EXCEPTION_LINE.match(lines[-1])
    return found.group(1).rsplit(".", 1)[-1] if found else None


def judge(*, ending: Ending | None, stopped: StopReason | None, stderr: str, oom_kills: int, limits: Limits) -> Verdict:
    """Turn how the run ended into its status (LiveMind's own stop first, then the kernel's, then the exit)."""
    if stopped == "output":
        return Verdict("output", None, f"output over {limits.max_output_bytes} bytes")
    if stopped == "wall":
        return Verdict("timeout", None, f"wall time over {limits.wall_s:g} s")
    if ending is None:
        return Verdict("error", None, "the run ended without a report")
    if ending.signal is not None:
        returncode = -ending.signal
        if ending.signal == signal.SIGXCPU or (ending.signal == signal.SIGKILL and ending.cpu_s >= limits.cpu_s):
            return Verdict("timeout", returncode, f"CPU time over {limits.cpu_s:g} s")
        if ending.signal == signal.SIGKILL:
            return Verdict("memory", returncode, "killed by the OOM killer" if oom_kills else
                           "killed by SIGKILL (most likely the machine's OOM killer)")
        return Verdict("error", returncode, f"killed by {signal.strsignal(ending.signal) or ending.signal}")
    returncode = ending.code if ending.code is not None else 0
    if returncode == 0:
        return Verdict("passed", 0, "")
    if oom_kills:
        return Verdict("memory", returncode, f"exit code {returncode} after the OOM killer killed {oom_kills} process(es)")
    exception = last_exception(stderr)
    if exception == "AssertionError":
        return Verdict("failed", returncode, exception)
    if exception == "MemoryError":
        return Verdict("memory", returncode, f"MemoryError (over {limits.memory_mb} MiB)")
    return Verdict("error", returncode, exception or f"exit code {returncode}")
