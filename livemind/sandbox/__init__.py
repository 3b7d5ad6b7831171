"""The sandbox for model-written Python: run a program in a fresh, contained process and say how it ended.

    result = run_python(code, tests, timeout_s=10, memory_mb=512, max_output_bytes=65536)
    result.status   # "passed", "failed", "error", "timeout", "memory" or "output"

Every run starts from nothing (a new process, a new empty folder) and gets the strongest of these
tiers the machine has (`isolation_available()` says which; docs/sandbox.md says what each contains):

    namespaces+cgroup  (root)  its own mount, pid, network, IPC and UTS namespaces; a private root
                        (a tmpfs holding /sandbox, /tmp and /dev/shm, with the system and the base
                        interpreter bound read-only: no home, no project, no LiveMind data); its own
                        loopback only; a throwaway uid with no capabilities and no_new_privs; pids
                        and memory cgroups bounding the whole run; rlimits on every process
    namespaces          the same without the cgroups; for a user without root, a user namespace
                        makes it possible and the program keeps the user's uid (no capabilities)
    uid+limits  (root)  no namespaces: a throwaway uid, rlimits, its own process group, a clean
                        environment and a temp folder; leftovers are killed by uid
    limits-only         rlimits, its own process group, a clean environment and a temp folder:
                        it sees the user's files and the network (docs/sandbox.md)

In every tier: the base interpreter in isolated mode without site (`-I -S`: the standard library
only), a minimal environment (no API keys), stdin from /dev/null, a wall clock and an output bound
enforced by LiveMind, RLIMIT_CPU/AS/FSIZE/NOFILE/NPROC/CORE. The run is over, with everything it
started, when `run_python` returns.
"""

from livemind.sandbox.isolation import Isolation
from livemind.sandbox.limits import Limits
from livemind.sandbox.result import SandboxResult, Status
from livemind.sandbox.runner import isolation_available, run_program, run_python

__all__ = ["Isolation", "Limits", "SandboxResult", "Status", "isolation_available", "run_program", "run_python"]
