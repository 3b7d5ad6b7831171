"""What one sandboxed run may use: time, memory, output, processes, files."""

from __future__ import annotations

import math
from dataclasses import dataclass

from livemind.errors import InvalidRequestError

MIB = 1024 * 1024
MIN_MEMORY_MB = 32  # the interpreter alone maps about 20 MiB


@dataclass(frozen=True)
class Limits:
    """The bounds of one run; passing any of them ends the run with its status ("timeout", "memory", "output")."""

    wall_s: float = 10.0  # wall clock, enforced by LiveMind, which kills the whole run
    cpu_s: float = 10.0  # CPU time of each process (all its threads together), enforced by the kernel
    memory_mb: int = 512  # address space of each process; with a cgroup, also the whole run (files in /tmp count)
    max_output_bytes: int = 65536  # each of stdout and stderr; more stops the run
    max_processes: int = 128  # tasks (processes and threads) alive at once
    open_files: int = 1024

    def __post_init__(self) -> None:
        if not (self.wall_s > 0 and self.cpu_s > 0):
            raise InvalidRequestError(f"sandbox time limits must be positive (wall {self.wall_s} s, CPU {self.cpu_s} s)")
        if self.memory_mb < MIN_MEMORY_MB:
            raise InvalidRequestError(f"sandbox memory limit {self.memory_mb} MiB is below the interpreter's "
                                      f"{MIN_MEMORY_MB} MiB", hint=f"give memory_mb >= {MIN_MEMORY_MB}")
        if self.max_output_bytes < 0 or self.max_processes < 1 or self.open_files < 16:
            raise InvalidRequestError("sandbox output, process and file limits must be positive "
                                      f"(got {self.max_output_bytes}, {self.max_processes}, {self.open_files})")

    def rlimits(self, *, processes_already_counted: int) -> list[tuple[str, int, int]]:
        """The worker's rlimits as (RLIMIT_ name, soft, hard); the uid's processes already running count for NPROC."""
        cpu = math.ceil(self.cpu_s)
        memory = self.memory_mb * MIB
        return [
            ("RLIMIT_CPU", cpu, cpu + 1),  # SIGXCPU at the soft limit, SIGKILL one second later if it is caught
            ("RLIMIT_AS", memory, memory),
            ("RLIMIT_FSIZE", memory, memory),
            ("RLIMIT_NOFILE", self.open_files, self.open_files),
            ("RLIMIT_CORE", 0, 0),
            ("RLIMIT_NPROC", processes_already_counted + self.max_processes,
             processes_already_counted + self.max_processes),
        ]
