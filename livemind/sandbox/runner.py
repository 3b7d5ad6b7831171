"""Running a program in the sandbox: start the launcher, watch the clock and the output, judge the ending."""

from __future__ import annotations

import contextlib
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

LAUNCHER = str(Path(__file__).resolve().with_name("launcher.py"))  # run as a script, never imported
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
    failures = []
    for tier in tiers_to_try():
        try:
            if run_program("pass", PROBE_LIMITS, tier).passed:
                return tier
            failures.append(f"{tier}: the probe program did not pass")
        except SandboxError as error:
            failures.append(f"{tier}: {error}")
    raise SandboxError("no sandbox tier can run Python here: " + "; ".join(failures),
                       hint=f"check that {base_interpreter()} runs")


def run_program(program: str, limits: Limits, isolation: Isolation) -> SandboxResult:
    """Run a whole Python program under one isolation tier and these limits; SandboxError if the tier cannot be set up."""
    start = time.monotonic()
    workspace = tempfile.mkdtemp(prefix="livemind-sandbox-")
    cgroup = RunCgroup.create(limits) if isolation.uses_cgroup else None
    uid = _uids.take() if isolation.drops_to_throwaway_uid else None
    status_read, status_write = os.pipe()
    try:
        program_path = os.path.join(workspace, "main.py")
        with open(program_path, "w", encoding="utf-8") as file:
            file.write(program)
        plan = _plan(limits, isolation, workspace, program_path, uid, cgroup, status_write)
        try:
            process = subprocess.Popen(
                [base_interpreter(), "-I", "-S", "-B", LAUNCHER, encode_plan(plan)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(status_write,),
                start_new_session=True, cwd=workspace, env={"PATH": SEARCH_PATH, "LANG": "C.UTF-8"})
        except OSError as error:
            raise SandboxError(f"could not start the sandbox launcher with {base_interpreter()}: {error}") from error
        finally:
            os.close(status_write)
        watch = _watch(process, status_read, limits, deadline=start + limits.wall_s)
        oom_kills = cgroup.oom_kills() if cgroup else 0
    finally:
        os.close(status_read)
        if cgroup:
            cgroup.remove()
        if uid is not None:
            _uids.release(uid)
        shutil.rmtree(workspace, ignore_errors=True)
    ending = _read_status(watch, isolation)
    stdout, stderr = _text(watch.stdout, limits), _text(watch.stderr, limits)
    verdict = judge(ending=ending, stopped=watch.stopped, stderr=stderr, oom_kills=oom_kills, limits=limits)
    return SandboxResult(passed=verdict.status == "passed", status=verdict.status, returncode=verdict.returncode,
                         stdout=stdout, stderr=stderr, seconds=time.monotonic() - start, isolation=str(isolation),
                         reason=verdict.reason)


def _plan(limits: Limits, isolation: Isolation, workspace: str, program_path: str, uid: int | None,
          cgroup: RunCgroup | None, status_fd: int) -> LaunchPlan:
    namespaces = isolation.uses_namespaces
    workdir = WORKDIR if namespaces else workspace
    # Without a throwaway uid, RLIMIT_NPROC counts every process the user already has.
    already = 0 if uid is not None else _processes_of(os.getuid())
    return LaunchPlan(
        namespaces=namespaces, user_namespace=isolation.needs_user_namespace,
        cgroup_procs=cgroup.procs_files if cgroup else [], root=workspace, root_mb=limits.memory_mb,
        binds=list(private_root_binds()), program=program_path, workdir=workdir, uid=uid,
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
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for stream in (process.stdout, process.stderr):
        stream.close()
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
