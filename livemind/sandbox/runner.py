"""Running a program in the sandbox: start the launcher, watch the clock and the output, judge the ending."""

from __future__ import annotations

import contextlib
import functools
import logging
import marshal
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from livemind.errors import SandboxError
from livemind.sandbox.cgroup import RunCgroup
from livemind.sandbox.isolation import Isolation, ThrowawayUids, base_interpreter, private_root_binds, tiers_to_try
from livemind.sandbox.limits import Limits
from livemind.sandbox.plan import LaunchPlan, encode_plan
from livemind.sandbox.result import Ending, SandboxResult, StopReason, judge

LAUNCHER = Path(__file__).resolve().with_name("launcher.py")  # run in a fresh interpreter, never imported
# The launcher's code travels compiled (marshal) in argv: a script would be compiled again on every run (3 ms).
RUN_LAUNCHER = "import marshal, sys; exec(marshal.loads(bytes.fromhex(sys.argv.pop(1))))"
SEARCH_PATH = "/usr/local/bin:/usr/bin:/bin"
WORKDIR = "/sandbox"  # the program's folder (and $HOME) inside the private root
CHUNK = 65536
STOP_WAIT_S = 10.0  # stage 0 waits for the kernel to empty the namespace; freeing GBs takes a moment
CUT_MARK = "\n[cut: more than {limit} bytes]"
PROBE_LIMITS = Limits(wall_s=20.0, cpu_s=5.0, memory_mb=256, max_output_bytes=4096)

# Runs the program as `python file.py` would, with exit()/quit() back (-S leaves them out) and the file's own
# name in tracebacks; -S because site would import the base interpreter's third-party packages (40 ms).
BOOTSTRAP = (
    "import sys, builtins, _sitebuiltins\n"
    "builtins.exit = _sitebuiltins.Quitter('exit', 'Ctrl-D (i.e. EOF)')\n"
    "builtins.quit = _sitebuiltins.Quitter('quit', 'Ctrl-D (i.e. EOF)')\n"
    "del sys.argv[0]\n"
    "__file__ = sys.argv[0]\n"
    "del sys, builtins, _sitebuiltins\n"
    "exec(compile(open(__file__, 'rb').read(), __file__, 'exec'))\n"
)

LOG = logging.getLogger("livemind")
_uids = ThrowawayUids()
_probe_lock = threading.Lock()
_best: list[Isolation] = []


@dataclass
class _Watch:
    """What the parent collects while a run goes on."""

    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    status: bytearray = field(default_factory=bytearray)
    stopped: StopReason | None = None


def run_python(code: str, tests: str = "", *, timeout_s: float = 10.0, memory_mb: int = 512,
               max_output_bytes: int = 65536) -> SandboxResult:
    """Run `code` then `tests` as one Python program in a fresh sandboxed process, with the best isolation here."""
    limits = Limits(wall_s=timeout_s, cpu_s=timeout_s, memory_mb=memory_mb, max_output_bytes=max_output_bytes)
    return run_program(code + "\n" + tests, limits, Isolation(isolation_available()))


def isolation_available() -> str:
    """The strongest isolation tier that works on this machine, found by one probe run per tier (cached)."""
    with _probe_lock:
        if not _best:
            _best.append(_probe())
        return _best[0]


def _probe() -> Isolation:
    """The first tier, strongest first, that sets up and runs `pass`; a slow machine is no reason to weaken it."""
    failures = []
    for tier in tiers_to_try():
        try:
            result = run_program("pass", PROBE_LIMITS, tier)
        except SandboxError as error:
            failures.append(f"{tier}: {error}")
            continue
        if result.passed:
            if failures:
                LOG.warning("sandbox: using %s; stronger tiers failed: %s", tier, "; ".join(failures))
            return tier
        if result.status == "timeout":
            raise SandboxError(f"the sandbox probe ({tier}) did not finish `pass` in {PROBE_LIMITS.wall_s:g} s",
                               hint="the machine is overloaded; try again")
        failures.append(f"{tier}: `pass` ended {result.status}: {result.stderr[-300:]}")
    raise SandboxError("no sandbox tier can run Python here: " + "; ".join(failures),
                       hint=f"check that {base_interpreter()} runs")


def run_program(program: str, limits: Limits, isolation: Isolation) -> SandboxResult:
    """Run a whole Python program under one isolation tier and these limits; SandboxError if the tier cannot be set up."""
    start = time.monotonic()
    with contextlib.ExitStack() as cleanup:  # undone in reverse: the run is dead before its cgroup and folder go
        workspace = tempfile.mkdtemp(prefix="livemind-sandbox-")
        cleanup.callback(shutil.rmtree, workspace, ignore_errors=True)
        cgroup = RunCgroup.create(limits) if isolation.uses_cgroup else None
        if cgroup is not None:
            cleanup.callback(cgroup.remove)
        uid = _uids.take() if isolation.drops_to_throwaway_uid else None
        if uid is not None:
            cleanup.callback(_uids.release, uid)
        pipes = cleanup.enter_context(_Pipes())
        status_read, status_write = pipes.open()
        go_read, go_write = pipes.open() if cgroup is not None else (None, None)
        program_path = os.path.join(workspace, "main.py")
        with open(program_path, "w", encoding="utf-8", errors="surrogatepass") as file:  # a lone surrogate: SyntaxError there
            file.write(program)
        plan = _plan(limits, isolation, workspace, program_path, uid, status_fd=status_write, go_fd=go_read)
        try:
            process = subprocess.Popen(
                [base_interpreter(), "-I", "-S", "-B", "-c", RUN_LAUNCHER, _launcher_code(), encode_plan(plan)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                pass_fds=[fd for fd in (status_write, go_read) if fd is not None], cwd=workspace,
                env={"PATH": SEARCH_PATH, "LANG": "C.UTF-8"})
        except OSError as error:
            raise SandboxError(f"could not start the sandbox launcher with {base_interpreter()}: {error}") from error
        cleanup.callback(_kill_if_running, process)
        pipes.close(status_write, go_read)
        if cgroup is not None and go_write is not None:
            _place(process, cgroup, pipes, go_write)
        watch = _watch(process, status_read, limits, deadline=start + limits.wall_s)
        oom_kills = cgroup.oom_kills() if cgroup is not None else 0
    ending = _read_status(watch, isolation)
    stdout, stderr = _text(watch.stdout, limits), _text(watch.stderr, limits)
    verdict = judge(ending=ending, stopped=watch.stopped, stderr=stderr, oom_kills=oom_kills, limits=limits)
    return SandboxResult(passed=verdict.status == "passed", status=verdict.status, returncode=verdict.returncode,
                         stdout=stdout, stderr=stderr, seconds=time.monotonic() - start, isolation=str(isolation),
                         reason=verdict.reason)


@functools.cache
def _launcher_code() -> str:
    """The launcher compiled once per LiveMind process, marshalled, in hex."""
    return marshal.dumps(compile(LAUNCHER.read_text(), str(LAUNCHER), "exec")).hex()


class _Pipes:
    """The run's pipes to the launcher; whatever is still open when the run ends is closed."""

    def __init__(self) -> None:
        self._open: set[int] = set()

    def __enter__(self) -> _Pipes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(*self._open)

    def open(self) -> tuple[int, int]:
        """A new pipe: (read end, write end), both close-on-exec here (pass_fds opens them to the launcher)."""
        read_end, write_end = os.pipe()
        self._open |= {read_end, write_end}
        return read_end, write_end

    def close(self, *fds: int | None) -> None:
        """Close these ends now (LiveMind's copies of what the launcher now holds)."""
        for fd in fds:
            if fd is not None and fd in self._open:
                self._open.discard(fd)
                os.close(fd)


def _place(process: subprocess.Popen[bytes], cgroup: RunCgroup, pipes: _Pipes, go: int) -> None:
    """Move stage 0 into the run's cgroups, then let it go on (it waits before it forks anything).

    Done here, while stage 0's interpreter starts, because a v1 cgroup move can wait for an RCU grace period.
    """
    try:
        cgroup.add(process.pid)
        os.write(go, b"1")
    except OSError as error:
        raise SandboxError(f"could not place the sandbox's launcher in its cgroups: {error}") from error
    finally:
        pipes.close(go)  # without the byte, stage 0 reads EOF and gives up


def _kill_if_running(process: subprocess.Popen[bytes]) -> None:
    """The last resort when the run is left early: kill the launcher's group and reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def _plan(limits: Limits, isolation: Isolation, workspace: str, program_path: str, uid: int | None, *,
          status_fd: int, go_fd: int | None) -> LaunchPlan:
    namespaces = isolation.uses_namespaces
    workdir = WORKDIR if namespaces else workspace
    # Without a throwaway uid, RLIMIT_NPROC counts every process the user already has.
    already = 0 if uid is not None else _processes_of(os.getuid())
    return LaunchPlan(
        namespaces=namespaces, user_namespace=isolation.needs_user_namespace, go_fd=go_fd, root=workspace,
        root_mb=limits.memory_mb, binds=list(private_root_binds()), program=program_path, workdir=workdir, uid=uid,
        rlimits=limits.rlimits(processes_already_counted=already),
        argv=[base_interpreter(), "-I", "-S", "-B", "-c", BOOTSTRAP, os.path.join(workdir, "main.py")],
        env={"PATH": SEARCH_PATH, "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": "/tmp" if namespaces else workdir},
        status_fd=status_fd)


def _watch(process: subprocess.Popen[bytes], status_fd: int, limits: Limits, *, deadline: float) -> _Watch:
    """Collect output until the launcher reports; stop the run at the deadline or when output passes the bound."""
    assert process.stdout is not None and process.stderr is not None
    watch = _Watch()
    buffers = {process.stdout.fileno(): watch.stdout, process.stderr.fileno(): watch.stderr, status_fd: watch.status}
    with selectors.DefaultSelector() as selector:
        for fd in buffers:
            selector.register(fd, selectors.EVENT_READ)
        is_reported = False  # the status pipe closes when stage 0 and init are gone
        while selector.get_map() and watch.stopped is None:
            remaining = deadline - time.monotonic()
            if is_reported:
                remaining = 0  # take what is already in the pipes, never wait for a leftover writer
            elif remaining <= 0:
                watch.stopped = "wall"
                break
            events = selector.select(timeout=remaining)
            if not events and is_reported:
                break
            for key, _ in events:
                data = os.read(key.fd, CHUNK)
                if not data:
                    selector.unregister(key.fd)
                    is_reported = is_reported or key.fd == status_fd
                    continue
                buffers[key.fd] += data
                if key.fd != status_fd and len(buffers[key.fd]) > limits.max_output_bytes:
                    watch.stopped = "output"
    if watch.stopped is not None:
        _stop(process)
    try:
        process.wait(timeout=STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        _kill_if_running(process)
    return watch


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ask stage 0 to kill the run (it knows init and the worker's group); it exits once they are gone."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGUSR1)


def _read_status(watch: _Watch, isolation: Isolation) -> Ending | None:
    """How the worker ended, from the launcher's report; SandboxError when the launcher could not set up.

    No report at all (the launcher died) is the program's doing as far as LiveMind can tell: an "error" run.
    """
    lines = watch.status.decode(errors="replace").splitlines()
    setup = next((line.removeprefix("setup ") for line in lines if line.startswith("setup ")), None)
    if setup is not None and watch.stopped is None:
        raise SandboxError(f"the sandbox ({isolation}) could not be set up: {setup}",
                           hint="see docs/sandbox.md for what each tier needs")
    return next((ending for ending in map(Ending.parse, lines) if ending is not None), None)


def _text(data: bytearray, limits: Limits) -> str:
    if len(data) <= limits.max_output_bytes:
        return data.decode(errors="replace")
    return data[: limits.max_output_bytes].decode(errors="replace") + CUT_MARK.format(limit=limits.max_output_bytes)


def _processes_of(uid: int) -> int:
    """How many processes the uid has now (RLIMIT_NPROC counts them against the run)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except FileNotFoundError:
                continue
    return count
