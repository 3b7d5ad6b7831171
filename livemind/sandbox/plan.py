"""The plan LiveMind hands the launcher: what to build and what to run, and how it travels in argv."""

from __future__ import annotations

import marshal
from typing import TypedDict


class LaunchPlan(TypedDict):
    """What the launcher builds and runs for one program."""

    namespaces: bool  # the private root, pid, network, IPC and UTS namespaces
    user_namespace: bool  # also a user namespace (not root: it is what lets the rest happen)
    go_fd: int | None  # with cgroups: stage 0 waits for one byte here (LiveMind moves it into them meanwhile)
    root: str  # an empty host directory: the new root's mount point, or (no namespaces) the work folder
    root_mb: int  # the private root's tmpfs size (it holds /sandbox, /tmp and /dev/shm)
    binds: list[str]  # host paths bound read-only at the same place in the private root
    program: str  # the host file holding the program (read before the root is switched)
    workdir: str  # where the program runs, as the worker sees it
    uid: int | None  # the throwaway uid and gid (root only); None keeps the caller's
    rlimits: list[tuple[str, int, int]]  # (RLIMIT_ name, soft, hard) set on the worker
    argv: list[str]  # the worker's command, run with `env`
    env: dict[str, str]
    status_fd: int  # where stage 0 and init write their report lines


def encode_plan(plan: LaunchPlan) -> str:
    """The plan as one argv word: marshal (built into the interpreter, unlike json: the launcher starts faster), in hex."""
    return marshal.dumps(dict(plan)).hex()
