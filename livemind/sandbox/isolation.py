"""The isolation tiers, what the private root shows, and the throwaway uids programs run as."""

from __future__ import annotations

import functools
import os
import secrets
import sys
import threading
from enum import StrEnum

# Read-only in the private root: the system's programs and libraries, the loader's cache, the time zone.
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc/ld.so.cache", "/etc/localtime")

# Far above any real account and below 2**31 (some tools read uids as signed): each run gets its own.
UID_BASE = 1_800_000_000
UID_SPAN = 1 << 24


class Isolation(StrEnum):
    """The isolation tiers, strongest first; `isolation_available()` names the best this machine gives."""

    NAMESPACES_CGROUP = "namespaces+cgroup"  # root: namespaces, private root, throwaway uid, pids + memory cgroup
    NAMESPACES = "namespaces"  # namespaces and private root; a user namespace when not root
    UID_LIMITS = "uid+limits"  # root without namespaces: a throwaway uid, rlimits, clean env, temp cwd
    LIMITS_ONLY = "limits-only"  # rlimits, own process group, clean env, temp cwd

    @property
    def uses_namespaces(self) -> bool:
        """Whether the run gets its own mount, pid, network, IPC and UTS namespaces and a private root."""
        return self in (Isolation.NAMESPACES_CGROUP, Isolation.NAMESPACES)

    @property
    def uses_cgroup(self) -> bool:
        """Whether the run lives in its own pids and memory cgroups."""
        return self is Isolation.NAMESPACES_CGROUP

    @property
    def drops_to_throwaway_uid(self) -> bool:
        """Whether the program runs as a fresh unprivileged uid (needs root; otherwise it keeps the user's uid)."""
        return is_root() and self is not Isolation.LIMITS_ONLY

    @property
    def needs_user_namespace(self) -> bool:
        """Whether the namespaces must come with a user namespace (a user without root)."""
        return self.uses_namespaces and not is_root()


def is_root() -> bool:
    """Whether LiveMind runs as root (then it can use cgroups and throwaway uids, and must drop root itself)."""
    return os.geteuid() == 0


def tiers_to_try() -> tuple[Isolation, ...]:
    """The tiers this user could have, strongest first (a probe run decides which one works)."""
    if is_root():
        return tuple(Isolation)
    return (Isolation.NAMESPACES, Isolation.LIMITS_ONLY)


@functools.cache
def base_interpreter() -> str:
    """The interpreter programs run on: the base Python under LiveMind's venv (the venv lives in the project)."""
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


@functools.cache
def private_root_binds() -> tuple[str, ...]:
    """Host paths bound read-only into the private root: the system and the base interpreter's prefix."""
    paths = list(SYSTEM_PATHS)
    interpreter_prefix = os.path.dirname(os.path.dirname(base_interpreter()))
    for prefix in (sys.base_prefix, sys.base_exec_prefix, interpreter_prefix):
        real = os.path.realpath(prefix)
        if not any(real == path or real.startswith(path + "/") for path in paths):
            paths.append(real)
    return tuple(paths)


class ThrowawayUids:
    """Hands out uids no account and no other live run uses: a run's processes are then all its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken: set[int] = set()

    def take(self) -> int:
        """A uid for one run; give it back with `release`."""
        with self._lock:
            while True:
                uid = UID_BASE + secrets.randbelow(UID_SPAN)
                if uid not in self._taken:
                    self._taken.add(uid)
                    return uid

    def release(self, uid: int) -> None:
        """The run is over: its uid may be handed out again."""
        with self._lock:
            self._taken.discard(uid)
