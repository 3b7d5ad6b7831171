"""The cgroups (v1 pids and memory) one run lives in: a bound on its tasks and on all its memory together.

They are made under LiveMind's own cgroups (read from /proc/self/cgroup), so whatever limits the
machine puts on LiveMind also hold for the programs it runs. cgroup v2 is not used yet: on a v2-only
machine the best tier is "namespaces" (docs/sandbox.md).
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import select
import signal
import uuid
from dataclasses import dataclass
from pathlib import Path

from livemind.errors import SandboxError
from livemind.sandbox.limits import MIB, Limits

LOG = logging.getLogger("livemind")

CONTROLLERS = ("pids", "memory")
LAUNCHER_TASKS = 2  # stage 0 and init count against pids.max too
LAUNCHER_MEMORY_MB = 16  # init's copy-on-write pages and page tables, charged to the run
EMPTY_WAIT_S = 5.0


@dataclass(frozen=True)
class CgroupParents:
    """The folders run cgroups are made in: LiveMind's own pids and memory cgroups."""

    pids: Path
    memory: Path


@functools.cache
def cgroup_parents() -> CgroupParents | None:
    """LiveMind's own v1 pids and memory cgroups when both are writable, else None."""
    mounts: dict[str, Path] = {}
    try:
        with open("/proc/self/mounts") as file:
            for line in file:
                _, mount_point, kind, options, *_ = line.split()
                for controller in CONTROLLERS:
                    if kind == "cgroup" and controller in options.split(","):
                        mounts[controller] = Path(mount_point)
        own: dict[str, str] = {}
        with open("/proc/self/cgroup") as file:
            for line in file:
                _, names, path = line.rstrip("\n").split(":", 2)
                for controller in names.split(","):
                    own[controller] = path
    except OSError:
        return None
    if any(c not in mounts or c not in own for c in CONTROLLERS):
        return None
    folders = {c: mounts[c] / own[c].lstrip("/") for c in CONTROLLERS}
    if not all(os.access(folder, os.W_OK) for folder in folders.values()):
        return None
    return CgroupParents(pids=folders["pids"], memory=folders["memory"])


class RunCgroup:
    """One run's pids and memory cgroups: made before the run, emptied and removed after it."""

    def __init__(self, folders: list[Path]) -> None:
        self._folders = folders

    @classmethod
    def create(cls, limits: Limits) -> RunCgroup:
        """Make the run's cgroups with the run's task and memory limits."""
        parents = cgroup_parents()
        if parents is None:
            raise SandboxError("no writable pids and memory cgroups (v1) for the sandbox",
                               hint="run LiveMind as root on a cgroup v1 machine, or use the \"namespaces\" tier")
        name = f"livemind-sandbox-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        made = cls([])
        memory = (limits.memory_mb + LAUNCHER_MEMORY_MB) * MIB
        try:
            for parent, settings in ((parents.pids, {"pids.max": limits.max_processes + LAUNCHER_TASKS}),
                                     (parents.memory, {"memory.limit_in_bytes": memory,
                                                       "memory.memsw.limit_in_bytes": memory})):
                folder = parent / name
                folder.mkdir()
                made._folders.append(folder)
                for setting, value in settings.items():
                    if (folder / setting).exists():  # memsw only where swap accounting is on
                        (folder / setting).write_text(str(value))
        except OSError as error:
            made.remove()
            raise SandboxError(f"could not make the sandbox's cgroup: {error}") from error
        return made

    def add(self, pid: int) -> None:
        """Move a process (the launcher's stage 0, before it forks) into the run's cgroups."""
        for folder in self._folders:
            (folder / "cgroup.procs").write_text(str(pid))

    def oom_kills(self) -> int:
        """How many processes the memory limit's OOM killer killed in this run."""
        for folder in self._folders:
            control = folder / "memory.oom_control"
            if control.exists():
                for line in control.read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        return 0

    def remove(self) -> None:
        """Kill anything still in the cgroups (nothing, when the pid namespace did its job) and remove them.

        A cgroup that cannot be removed is logged and left: the run's result stands.
        """
        for folder in self._folders:
            try:
                folder.rmdir()
            except FileNotFoundError:
                continue
            except OSError as error:
                try:
                    if error.errno != errno.EBUSY:
                        raise
                    _kill_and_wait(folder)
                    folder.rmdir()
                except OSError as again:
                    LOG.warning("sandbox cgroup %s could not be removed (%s); left in place", folder, again)


def _kill_and_wait(folder: Path) -> None:
    """SIGKILL every process listed in the cgroup and wait (bounded) until each has exited."""
    for pid in (int(p) for p in (folder / "cgroup.procs").read_text().split()):
        try:
            handle = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            signal.pidfd_send_signal(handle, signal.SIGKILL)
            select.select([handle], [], [], EMPTY_WAIT_S)
        except ProcessLookupError:
            pass
        finally:
            os.close(handle)
