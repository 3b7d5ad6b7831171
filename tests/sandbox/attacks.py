"""Hostile programs, the runners they are tried under, and which runner contains which attack.

A runner is a sandbox tier run the way LiveMind would run it, or "bare": the same program in a plain
subprocess with LiveMind's rights and environment, no sandbox. The tiers run in this process
(root here), and, to cover what a user's machine does, also from an unprivileged user ("as a
user": uid 65534 through the system interpreter, the way a LiveMind started by a user runs them).
"uid+limits" runs through the system interpreter too: its throwaway uid cannot open an interpreter
kept under /root.

Every containment test runs under every runner. Where a runner lacks the layer that contains the
attack, the test is a strict xfail: it must fail there, the standing proof that each test fails
when its layer is gone. Attacks that would harm the machine uncontained (an exponential fork bomb
as root) are skipped there instead.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import json
import os
import shutil
import stat
import subprocess
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

from livemind.errors import SandboxError
from livemind.sandbox import Isolation, Limits, SandboxResult, run_program
from livemind.sandbox.isolation import base_interpreter, is_root
from livemind.sandbox.result import Ending, judge

ROOT = Path(__file__).resolve().parents[2]
BARE = "bare"
BARE_TIMEOUT_S = 60.0
UNPRIVILEGED = 65534
SYSTEM_INTERPRETERS = ("/usr/bin/python3", "/usr/local/bin/python3")
PACKAGE_COPY_ENV = "LIVEMIND_TEST_PACKAGE_COPY"

# How a user's LiveMind runs the sandbox, in a fresh system interpreter: livemind/__init__ imports the
# engine (not installed there), the sandbox needs none of it, so the package is given as a bare path.
AS_LIVEMIND = """
import dataclasses, json, sys, types
package = types.ModuleType("livemind")
package.__path__ = [sys.argv[1] + "/livemind"]
sys.modules["livemind"] = package
from livemind.sandbox import Isolation, Limits, run_program
request = json.loads(sys.stdin.read())
result = run_program(request["program"], Limits(**request["limits"]), Isolation(request["isolation"]))
print(json.dumps(dataclasses.asdict(result)))
"""


@dataclass(frozen=True)
class Runner:
    """A way to run a program: a tier, by whom (root or a user), through which interpreter."""

    name: str
    isolation: Isolation | None  # None: bare, no sandbox
    uid: int | None = None  # run by this unprivileged uid; None: this test process's own uid
    is_foreign: bool = False  # through the system interpreter in a separate LiveMind-like process

    @property
    def is_root(self) -> bool:
        """Whether the LiveMind side of this runner is root."""
        return self.uid is None and is_root()


def _tier(isolation: Isolation, **how: object) -> Runner:
    return Runner(name=isolation.value, isolation=isolation, **how)  # type: ignore[arg-type]


RUNNERS: dict[str, Runner] = {r.name: r for r in (
    _tier(Isolation.NAMESPACES_CGROUP),
    _tier(Isolation.NAMESPACES),
    _tier(Isolation.UID_LIMITS, is_foreign=True),
    _tier(Isolation.LIMITS_ONLY),
    Runner("namespaces, as a user", Isolation.NAMESPACES, uid=UNPRIVILEGED, is_foreign=True),
    Runner("limits-only, as a user", Isolation.LIMITS_ONLY, uid=UNPRIVILEGED, is_foreign=True),
    Runner(BARE, None),
)}

ATTACKS = ("wall", "cpu", "memory", "memory in many processes", "processes", "output", "environment", "writes", "reads",
           "network", "signals", "leftovers", "the launcher")


def contains(runner: Runner, attack: str) -> bool:
    """Whether the runner has a layer that contains the attack (docs/sandbox.md, "What each tier contains")."""
    tier = runner.isolation
    if tier is None:
        return False
    has_namespaces = tier.uses_namespaces
    has_throwaway_uid = runner.is_root and tier is not Isolation.LIMITS_ONLY
    match attack:
        case "wall" | "cpu" | "memory" | "output":  # LiveMind's clock and output bound, rlimits: every tier
            return True
        case "memory in many processes":  # only a memory cgroup adds them up
            return tier.uses_cgroup
        case "processes":  # RLIMIT_NPROC holds for every uid but root; root has the cgroup or a throwaway uid
            return tier.uses_cgroup or has_throwaway_uid or not runner.is_root
        case "environment" | "signals" | "leftovers":  # (the env is clean everywhere, but /proc/<pid>/environ is not)
            return has_namespaces or has_throwaway_uid
        case "writes" | "reads" | "network":  # a throwaway uid still writes /tmp and reads world-readable files
            return has_namespaces
        case "the launcher":  # pid 1 of the run's namespace, blocking signals and not dumpable
            return has_namespaces
    raise ValueError(f"unknown attack {attack!r}")


def system_interpreter() -> str | None:
    """A Python 3.11+ outside any home, runnable by every user, or None."""
    for path in SYSTEM_INTERPRETERS:
        real = os.path.realpath(path)
        if os.path.exists(real) and os.stat(real).st_mode & stat.S_IXOTH:
            done = subprocess.run([real, "-I", "-S", "-c", "import sys; print(sys.version_info >= (3, 11))"],
                                  capture_output=True, text=True, timeout=30, check=False)
            if done.stdout.strip() == "True":
                return real
    return None


def livemind_command(runner: Runner) -> list[str]:
    """The command that starts a LiveMind-like process running the sandbox for a foreign runner."""
    interpreter = system_interpreter()
    assert interpreter is not None
    command = [interpreter, "-I", "-S", "-B", "-c", AS_LIVEMIND, str(source_root(runner.name))]
    if runner.uid is not None:
        command = ["setpriv", f"--reuid={runner.uid}", f"--regid={runner.uid}", "--clear-groups", *command]
    return command


def request_for(runner: Runner, program: str, limits: Limits) -> str:
    """What a foreign runner's LiveMind-like process reads on stdin."""
    assert runner.isolation is not None
    return json.dumps({"program": program, "limits": dataclasses.asdict(limits), "isolation": runner.isolation.value})


def private_parent(path: Path) -> Path | None:
    """The first folder on the way to path that other users may not enter, or None."""
    for folder in (*reversed(path.parents), path):
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return folder
    return None


@functools.cache
def package_root() -> Path:
    """A folder holding livemind/ that every user may enter: the checkout, or a copy of the package.

    A clone made by `mktemp -d` (CI's, or fresh-check's) sits in a folder only its owner may enter,
    so a LiveMind started as another uid could not import the package from it. It then runs a copy
    of the package, made readable by every user. The test process that makes the copy removes it at
    exit and hands its path to the processes it starts (they may be killed before any clean-up).
    """
    if private_parent(ROOT) is None:
        return ROOT
    if handed := os.environ.get(PACKAGE_COPY_ENV):
        return Path(handed)
    copy = Path(tempfile.mkdtemp(prefix="livemind-as-user-"))
    atexit.register(shutil.rmtree, copy, True)
    shutil.copytree(ROOT / "livemind", copy / "livemind", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in (copy, *copy.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    os.environ[PACKAGE_COPY_ENV] = str(copy)
    return copy


def source_root(runner: str) -> Path:
    """The folder the runner's LiveMind imports its source from."""
    return package_root() if RUNNERS[runner].uid is not None else ROOT


@functools.cache
def unavailable_because(name: str) -> str | None:
    """Why a runner cannot run on this machine, or None when it can."""
    runner = RUNNERS[name]
    if runner.isolation is None:
        return None
    if runner.is_foreign and not is_root():
        return f"{name} needs root to start it (the tests already run as a user: see the in-process tiers)"
    if runner.is_foreign and system_interpreter() is None:
        return f"{name} needs a Python 3.11+ that every user can run, in {SYSTEM_INTERPRETERS}"
    if runner.uid is not None and shutil.which("setpriv") is None:
        return f"{name} needs setpriv (util-linux) to start LiveMind as uid {runner.uid}"
    if runner.uid is not None and (private := private_parent(package_root())) is not None:
        return (f"{name} starts LiveMind as uid {runner.uid}, which cannot enter {private} (not searchable by other "
                f"users): run the suite from a checkout every user can read, or with TMPDIR in one")
    try:
        result = run_under(name, "pass", Limits(wall_s=20))
    except SandboxError as error:
        return f"{name} cannot be set up here: {error}"
    return None if result.passed else f"{name} does not run `pass` here: {result.status} {result.stderr[-500:]}"


def run_under(name: str, program: str, limits: Limits) -> SandboxResult:
    """Run a program under a runner: a tier here, a tier from a LiveMind-like process, or bare."""
    runner = RUNNERS[name]
    if runner.isolation is None:
        return _run_bare(program)
    if not runner.is_foreign:
        return run_program(program, limits, runner.isolation)
    done = subprocess.run(livemind_command(runner), input=request_for(runner, program, limits), cwd="/",
                          capture_output=True, text=True, timeout=BARE_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise SandboxError(f"{name}: {done.stderr[-2000:]}")
    return SandboxResult(**json.loads(done.stdout))


def _run_bare(program: str) -> SandboxResult:
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
