"""A stand-in for LiveMind that hostile programs try to kill, run in a throwaway pid namespace.

    unshare --pid --fork --kill-child --mount-proc python -m tests.sandbox.stand_in REQUESTS

This process is pid 1 of that namespace (a kill(-1) from inside skips it). For each (runner, attack,
program) in REQUESTS (JSON) it forks a fresh stand-in, which runs the program under the runner with
the program's `{stand_in}` and `{group}` filled in with its own pid and process group; then it
records whether the stand-in lived to report. It prints one JSON object: "runner/attack" ->
{"survived": bool, "status": the run's status, "stdout": its output} ("" for a stand-in that died).
If containment is broken, only this namespace suffers, never the test run or the machine. Secrets
given in this process's environment at start are in /proc/<pid>/environ of every stand-in.
"""

from __future__ import annotations

import json
import os
import sys

from livemind.sandbox import Limits
from tests.sandbox.attacks import run_under

LIMITS = Limits(wall_s=10, cpu_s=10)


def _stand_in(runner: str, program: str, report: int) -> None:
    filled = program.replace("{stand_in}", str(os.getpid())).replace("{group}", str(os.getpgid(0)))
    result = run_under(runner, filled, LIMITS)
    with os.fdopen(report, "w") as said:
        json.dump({"status": result.status, "stdout": result.stdout[-20_000:]}, said)


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
        outcomes[f"{runner}/{attack}"] = {"survived": not os.WIFSIGNALED(status), **report}
    print(json.dumps(outcomes))


if __name__ == "__main__":
    main()
