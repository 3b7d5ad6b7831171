"""Hostile programs, the runners they are tried under, and which runner contains which attack.

A runner is a sandbox tier (`run_program` under that `Isolation`) or "bare": the same program in a
plain subprocess, LiveMind's rights and environment, no sandbox. Every containment test is run
under every runner; where a runner lacks the layer that contains the attack, the test is expected
to fail (a strict xfail). That is the standing proof that each test can fail: remove the layer and
the assertion breaks. Attacks that would harm the machine when uncontained (an exponential fork
bomb as root) are skipped there instead.
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
import textwrap
from pathlib import Path

from livemind.errors import SandboxError
from livemind.sandbox import Isolation, Limits, SandboxResult, run_program
from livemind.sandbox.isolation import base_interpreter, is_root
from livemind.sandbox.result import Ending, judge

BARE = "bare"
RUNNERS = (*(tier.value for tier in Isolation), BARE)
BARE_TIMEOUT_S = 60.0

# What contains each attack, by runner: the tiers' layers as docs/sandbox.md lists them.
_NAMESPACED = {Isolation.NAMESPACES_CGROUP.value, Isolation.NAMESPACES.value}
_UID = {Isolation.UID_LIMITS.value} if is_root() else set()
_RLIMITS = {tier.value for tier in Isolation}
CONTAINED_BY: dict[str, set[str]] = {
    "wall": _RLIMITS,  # LiveMind's clock in every tier
    "cpu": _RLIMITS,
    "memory": _RLIMITS,
    "memory in many processes": {Isolation.NAMESPACES_CGROUP.value},  # only a memory cgroup adds them up
    # RLIMIT_NPROC holds for any uid but root; root's runs are bounded by the cgroup or a throwaway uid
    "processes": _NAMESPACED | _UID | (set() if is_root() else {Isolation.LIMITS_ONLY.value}),
    "output": _RLIMITS,
    "environment": _NAMESPACED | _UID,  # a clean env everywhere, but /proc/<LiveMind>/environ is readable by its uid
    "writes": _NAMESPACED | _UID,
    "reads": _NAMESPACED,
    "network": _NAMESPACED,
    "signals": _NAMESPACED | _UID,
    "leftovers": _NAMESPACED | _UID,
}


@functools.cache
def unavailable_because(runner: str) -> str | None:
    """Why a runner cannot run on this machine, or None when it can."""
    if runner == BARE:
        return None
    try:
        result = run_program("pass", Limits(wall_s=20), Isolation(runner))
    except SandboxError as error:
        return f"{runner} cannot be set up here: {error}"
    return None if result.passed else f"{runner} does not run `pass` here: {result.stderr[-500:]}"


def run_under(runner: str, program: str, limits: Limits) -> SandboxResult:
    """Run a program under a sandbox tier, or bare (no sandbox at all, bounded by a generous timeout)."""
    if runner != BARE:
        return run_program(program, limits, Isolation(runner))
    with tempfile.TemporaryDirectory() as folder:
        out, err = Path(folder, "stdout"), Path(folder, "stderr")
        with out.open("wb") as stdout, err.open("wb") as stderr:  # files, not pipes: a daemon keeps pipes open
            try:
                done = subprocess.run([base_interpreter(), "-I", "-S", "-c", program], cwd=folder, stdout=stdout,
                                      stderr=stderr, timeout=BARE_TIMEOUT_S, check=False)
                code: int | None = done.returncode
            except subprocess.TimeoutExpired:
                code = None
        output, errors = out.read_text(errors="replace"), err.read_text(errors="replace")
    if code is None:
        return SandboxResult(passed=False, status="timeout", returncode=None, stdout=output, stderr=errors,
                             seconds=BARE_TIMEOUT_S, isolation=BARE)
    ending = Ending(code=code, signal=None, cpu_s=0.0) if code >= 0 else Ending(code=None, signal=-code, cpu_s=0.0)
    verdict = judge(ending=ending, stopped=None, stderr=errors, oom_kills=0, limits=Limits(wall_s=BARE_TIMEOUT_S))
    return SandboxResult(passed=code == 0, status=verdict.status, returncode=code, stdout=output, stderr=errors,
                         seconds=0.0, isolation=BARE, reason=verdict.reason)


def program(text: str) -> str:
    """A hostile program written indented inside a test."""
    return textwrap.dedent(text).strip() + "\n"


def host_pid_namespace() -> str:
    """The pid namespace the test process lives in (a kill(-1) there would reach every process)."""
    return os.readlink("/proc/self/ns/pid")
