"""A stand-in for LiveMind that hostile programs try to kill or spy on, run in a throwaway pid namespace.

    unshare --pid --fork --kill-child --mount-proc python -m tests.sandbox.stand_in REQUESTS

This process is pid 1 of that namespace (a kill(-1) from inside skips it). For each (runner, attack,
program) in REQUESTS (JSON) it forks a fresh stand-in, which runs the program under the runner with
`{stand_in}` and `{group}` filled in with its own pid and process group. A foreign runner's stand-in
becomes (execs) the LiveMind-like process, so that pid is still LiveMind's. This process then
records whether the stand-in lived to report and prints one JSON object: "runner/attack" ->
{"survived": bool, "status": the run's status, "stdout": its output} ("" when the stand-in died).
If containment is broken, only this namespace suffers, never the test run or the machine. Secrets
given in this process's environment at start are in /proc/<pid>/environ of every stand-in.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys

from livemind.sandbox import Limits
from tests.sandbox.attacks import RUNNERS, livemind_command, request_for, run_under

LIMITS = Limits(wall_s=10, cpu_s=10)


def _stand_in(name: str, program: str, report: int) -> None:
    filled = program.replace("{stand_in}", str(os.getpid())).replace("{group}", str(os.getpgid(0)))
    runner = RUNNERS[name]
    if runner.is_foreign:
        request_read, request_write = os.pipe()
        os.write(request_write, request_for(runner, filled, LIMITS).encode())
        os.close(request_write)
        os.dup2(request_read, 0)
        os.dup2(report, 1)
        command = livemind_command(runner)
        os.execvp(command[0], command)
    result = run_under(name, filled, LIMITS)
    with os.fdopen(report, "w") as said:
        json.dump(dataclasses.asdict(result), said)


def main() -> None:
    """Run every request in its own stand-in and print who survived."""
    outcomes: dict[str, dict[str, object]] = {}
    for runner, attack, program in json.loads(sys.argv[1]):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            os.setpgid(0, 0)  # its own group, like LiveMind under a shell
            try:
                _stand_in(runner, program, write_end)
            finally:
                os._exit(0)
        os.close(write_end)
        _, status = os.waitpid(pid, 0)
        with os.fdopen(read_end) as said:
            report = json.loads(said.read() or '{"status": "", "stdout": ""}')
        outcomes[f"{runner}/{attack}"] = {"survived": not os.WIFSIGNALED(status), "status": report["status"],
                                          "stdout": report["stdout"][-20_000:]}
    print(json.dumps(outcomes))


if __name__ == "__main__":
    main()
