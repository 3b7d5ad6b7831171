"""run_python as the evaluator uses it: statuses, exit codes, output, limits, threads, the tier it reports."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest

from livemind.errors import InvalidRequestError, SandboxError
from livemind.sandbox import Isolation, Limits, SandboxResult, isolation_available, run_program, run_python
from livemind.sandbox import runner as sandbox_runner


def test_code_then_tests_run_as_one_program_and_pass() -> None:
    result = run_python("def double(x):\n    return 2 * x", "assert double(4) == 8\nprint('ok')")
    assert result.passed and result.status == "passed" and result.returncode == 0
    assert result.stdout == "ok\n" and result.stderr == ""
    assert result.isolation == isolation_available()


def test_a_failed_assertion_is_failed_with_its_traceback() -> None:
    result = run_python("def double(x):\n    return x + 1", "assert double(4) == 8, 'double(4)'")
    assert not result.passed and result.status == "failed" and result.returncode == 1
    assert "AssertionError: double(4)" in result.stderr and 'main.py", line 3' in result.stderr


@pytest.mark.parametrize(("code", "reason"), [
    ("raise ValueError('no')", "ValueError"),
    ("def broken(:\n    pass", "SyntaxError"),
    ("import numpy_that_is_not_there", "ModuleNotFoundError"),
    ("import sys\nsys.exit(3)", "exit code 3"),
    ("x = '\ud800'", "SyntaxError"),  # not valid UTF-8 once written: the program's error, never LiveMind's
    ("x = 1\x00", "SyntaxError"),
])
def test_any_other_ending_is_an_error_with_its_reason(code: str, reason: str) -> None:
    result = run_python(code)
    assert result.status == "error" and not result.passed
    assert result.reason == reason and result.returncode != 0


def test_exit_and_quit_work_as_in_a_normal_python() -> None:
    assert run_python("print('bye')\nexit(0)\nprint('not reached')").stdout == "bye\n"
    assert run_python("quit(4)").returncode == 4


def test_a_memory_error_is_memory() -> None:
    result = run_python("x = bytearray(8 << 30)", memory_mb=128)
    assert result.status == "memory" and "MemoryError" in result.reason


def test_a_timeout_has_no_exit_code_and_keeps_the_output_so_far() -> None:
    result = run_python("import sys, time\nprint('started', flush=True)\ntime.sleep(5)", timeout_s=0.5)
    assert result.status == "timeout" and result.returncode is None
    assert result.stdout == "started\n"


def test_stderr_is_bounded_too() -> None:
    result = run_python("import sys\nsys.stderr.write('e' * 100_000)\n", max_output_bytes=1000)
    assert result.status == "output"
    assert result.stderr.startswith("e" * 1000) and result.stderr.endswith("[cut: more than 1000 bytes]")


def test_output_under_the_bound_is_whole() -> None:
    result = run_python("print('y' * 999, end='')", max_output_bytes=1000)
    assert result.passed and result.stdout == "y" * 999


def test_the_program_runs_in_its_own_writable_folder_with_empty_stdin() -> None:
    code = ("import os, sys, tempfile\nopen('here.txt', 'w').write('1')\n"
            "with tempfile.NamedTemporaryFile() as f:\n    f.write(b'2')\n"
            "print(sys.stdin.read() == '', os.getcwd() == os.environ['HOME'], sorted(os.listdir('.')))")
    result = run_python(code)
    assert result.passed, result
    assert result.stdout == "True True ['here.txt', 'main.py']\n"


def test_multiprocessing_and_a_local_server_work_inside() -> None:
    code = """
import multiprocessing, socket, threading
with multiprocessing.Pool(2) as pool:
    assert pool.map(abs, [-1, -2]) == [1, 2]
server = socket.create_server(("127.0.0.1", 0))
threading.Thread(target=lambda: server.accept()[0].sendall(b"hi"), daemon=True).start()
with socket.create_connection(server.getsockname(), timeout=5) as client:
    assert client.recv(2) == b"hi"
"""
    result = run_python(code)
    assert result.passed, result


def test_runs_from_many_threads_at_once_keep_their_own_output() -> None:
    def run(index: int) -> SandboxResult:
        return run_python(f"import time\ntime.sleep(0.2)\nprint({index})")

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, range(8)))
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(8)]
    assert all(r.passed for r in results)


def test_the_result_is_a_frozen_value() -> None:
    result = run_python("pass")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = "failed"  # type: ignore[misc]


@pytest.mark.parametrize("limits", [
    {"wall_s": 0}, {"cpu_s": -1}, {"memory_mb": 8}, {"max_output_bytes": -1}, {"max_processes": 0},
])
def test_impossible_limits_are_refused(limits: dict[str, float]) -> None:
    with pytest.raises(InvalidRequestError):
        Limits(**limits)  # type: ignore[arg-type]


def test_the_best_tier_is_named_and_is_what_runs_use() -> None:
    best = isolation_available()
    assert best in {tier.value for tier in Isolation}
    assert run_python("pass").isolation == best


def test_a_sandbox_that_cannot_start_raises_instead_of_running_weaker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_runner, "base_interpreter", lambda: "/nonexistent/python3")
    with pytest.raises(SandboxError, match="could not start"):
        run_program("pass", Limits(), Isolation(isolation_available()))
