"""Hostile programs are contained: time, memory, processes, output, files, secrets, network, signals, leftovers.

Each test runs under every runner (attacks.py): the sandbox tiers this machine has, and "bare" (no
sandbox). Where a runner lacks the containing layer the test is a strict xfail: it must fail there,
which shows it would fail if that layer were removed from a tier that has it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _pytest.mark.structures import ParameterSet

from livemind.sandbox import Limits
from livemind.sandbox.isolation import is_root, private_root_binds
from livemind.sandbox.runner import CUT_MARK
from tests.sandbox.attacks import (
    ATTACKS,
    BARE,
    ROOT,
    RUNNERS,
    contains,
    host_pid_namespace,
    program,
    run_under,
    source_root,
    unavailable_because,
)

LIVEMIND_HOME = Path(os.environ.get("LIVEMIND_HOME", str(Path.home() / ".cache" / "livemind")))


def runners(attack: str, *, is_harmful_uncontained: bool = False, is_same_everywhere: bool = False) -> list[ParameterSet]:
    """Every runner for an attack: as is where it is contained, a strict xfail (or a skip, if harmful) where not.

    `is_same_everywhere`: the runners that start a separate LiveMind-like process skip it to save time,
    because the containing layer is the same code in every tier (LiveMind's clock, output bound,
    rlimits) or another test already shows it for them (the fork count for the fork bomb).
    """
    params = []
    for runner in RUNNERS:
        marks: list[pytest.MarkDecorator] = []
        if is_same_everywhere and RUNNERS[runner].is_foreign:
            marks = [pytest.mark.skip(reason="the same layer and code as the tiers run in process")]
        elif not contains(RUNNERS[runner], attack):
            why = f"{runner} has no layer that contains {attack}"
            marks = [pytest.mark.skip(reason=why + "; uncontained it would harm the machine")] if is_harmful_uncontained \
                else [pytest.mark.xfail(strict=True, reason=why)]
        params.append(pytest.param(runner, marks=marks, id=runner))
    return params


@pytest.fixture
def runner(request: pytest.FixtureRequest) -> str:
    """The runner of this case, skipped when this machine cannot run it."""
    name: str = request.param
    reason = unavailable_because(name)
    if reason:
        pytest.skip(reason)
    return name


SLEEPER = program("""
    import time
    time.sleep(1.5)
    print("woke up")
""")


@pytest.mark.parametrize("runner", runners("wall", is_same_everywhere=True), indirect=True)
def test_a_program_that_never_finishes_is_stopped_by_the_wall_clock(runner: str) -> None:
    result = run_under(runner, SLEEPER, Limits(wall_s=0.5, cpu_s=1))  # asleep: it uses no CPU time
    assert result.status == "timeout" and "wall" in result.reason
    assert "woke up" not in result.stdout and result.returncode is None
    assert result.seconds < 1.5


SPINNERS = program("""
    import threading, time
    def spin():
        while True:
            pass
    for _ in range(4):
        threading.Thread(target=spin, daemon=True).start()
    while time.process_time() < 1.25:
        time.sleep(0.05)
    print("ran 1.25 s of CPU")
""")


@pytest.mark.parametrize("runner", runners("cpu", is_same_everywhere=True), indirect=True)
def test_busy_threads_are_stopped_by_cpu_time_long_before_the_wall_clock(runner: str) -> None:
    result = run_under(runner, SPINNERS, Limits(wall_s=20, cpu_s=1))
    assert result.status == "timeout" and "CPU" in result.reason, result
    assert "ran 1.25 s" not in result.stdout


BALLOON = program("""
    chunks = [bytes(1 << 30) for _ in range(8)]  # 8 GiB, calloc: untouched, so uncontained it costs the host nothing
    print("held", len(chunks), "GiB")
""")


@pytest.mark.parametrize("runner", runners("memory"), indirect=True)
def test_a_memory_bomb_ends_with_memory_status(runner: str) -> None:
    result = run_under(runner, BALLOON, Limits(memory_mb=256))
    assert result.status == "memory", result
    assert "held" not in result.stdout


CROWD = program("""
    import os, time
    children = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            block = b"x" * (70 << 20)  # each child stays under its own 100 MiB address-space limit
            time.sleep(0.3)
            os._exit(0)
        children.append(pid)
    failed = [pid for pid in children if os.waitpid(pid, 0)[1] != 0]
    print("children that failed:", len(failed))
    raise SystemExit(1 if failed else 0)
""")


@pytest.mark.parametrize("runner", runners("memory in many processes", is_same_everywhere=True), indirect=True)
def test_memory_spread_over_processes_is_bounded_for_the_whole_run(runner: str) -> None:
    result = run_under(runner, CROWD, Limits(memory_mb=100))
    assert result.status == "memory", result


SPAWNER = program("""
    import os
    born = 0
    for _ in range(400):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            os._exit(0)  # a zombie until the program exits: it still counts
        born += 1
    print(born)
""")


@pytest.mark.parametrize("runner", runners("processes"), indirect=True)
def test_a_program_cannot_start_more_processes_than_the_limit(runner: str) -> None:
    result = run_under(runner, SPAWNER, Limits(max_processes=64))
    assert result.passed, result
    assert int(result.stdout) < 100


BOMB = program("""
    import os
    while True:
        try:
            os.fork()
        except OSError:
            pass
""")


@pytest.mark.parametrize("runner", runners("processes", is_harmful_uncontained=True, is_same_everywhere=True), indirect=True)
def test_a_fork_bomb_ends_at_its_timeout_and_leaves_the_machine_usable(runner: str) -> None:
    result = run_under(runner, BOMB, Limits(wall_s=1, cpu_s=1, max_processes=64))
    assert result.status == "timeout"
    assert result.seconds < 10  # a second, then the kernel reaps the bomb (slower on a loaded machine)
    assert subprocess.run(["true"], check=False, timeout=10).returncode == 0


FLOOD = program("""
    for i in range(200_000):
        print("flood", i, "x" * 40)
    print("finished")
""")


@pytest.mark.parametrize("runner", runners("output", is_same_everywhere=True), indirect=True)
def test_a_flood_of_output_is_cut_and_stops_the_run(runner: str) -> None:
    result = run_under(runner, FLOOD, Limits(max_output_bytes=10_000))
    assert result.status == "output" and result.returncode is None
    assert len(result.stdout) <= 10_000 + len(CUT_MARK.format(limit=10_000))
    assert result.stdout.endswith(CUT_MARK.format(limit=10_000))
    assert "finished" not in result.stdout


@pytest.fixture
def escape_targets(tmp_path: Path) -> Iterator[list[Path]]:
    """Files a program must not be able to create: in /tmp, the project, $HOME, LiveMind's home, a test folder."""
    name = f".livemind-sandbox-escape-{uuid.uuid4().hex}"
    folders = [Path("/tmp"), ROOT, Path.home(), tmp_path]
    if LIVEMIND_HOME.is_dir():
        folders.append(LIVEMIND_HOME)
    targets = [folder / name for folder in folders]
    try:
        yield targets
    finally:
        for target in targets:
            target.unlink(missing_ok=True)


@pytest.mark.parametrize("runner", runners("writes"), indirect=True)
def test_writes_outside_the_run_folder_never_reach_the_host(runner: str, escape_targets: list[Path]) -> None:
    writer = program(f"""
        for path in {[str(t) for t in escape_targets]!r}:
            try:
                with open(path, "w") as file:
                    file.write("escaped")
                print("wrote", path)
            except OSError as error:
                print("could not write", path, error)
        with open("own.txt", "w") as file:  # its own folder is writable
            file.write("fine")
    """)
    result = run_under(runner, writer, Limits())
    assert result.passed, result
    assert [t for t in escape_targets if t.exists()] == []


def _bound_names(folder: Path) -> set[str]:
    """The names a folder may show in the private root: the first step of each read-only bind below it."""
    names = set()
    for bind in private_root_binds():
        relative = Path(bind).relative_to(folder) if Path(bind).is_relative_to(folder) else None
        if relative is not None and relative.parts:
            names.add(relative.parts[0])
    return names


@pytest.mark.parametrize("runner", runners("reads"), indirect=True)
def test_the_users_files_livemind_data_and_the_project_source_are_unreadable(runner: str, tmp_path: Path) -> None:
    session = tmp_path / "sessions" / "s1.json"
    session.parent.mkdir()
    session.write_text("session-secret-51c2")
    session.chmod(0o644)
    source = source_root(runner) / "livemind" / "sandbox" / "__init__.py"  # the source its LiveMind runs
    folders = [str(LIVEMIND_HOME), str(Path.home()), str(source_root(runner))]
    with tempfile.NamedTemporaryFile("w", dir=Path.home(), prefix=".livemind-sandbox-read-") as home_file:
        home_file.write("home-secret-7a90")
        home_file.flush()
        os.chmod(home_file.name, 0o644)
        reader = program(f"""
            import json, os
            found = {{"read": {{}}, "listed": {{}}}}
            for path in {[str(session), home_file.name, str(source)]!r}:
                try:
                    with open(path) as file:
                        found["read"][path] = file.read()
                except OSError:
                    continue
            for folder in {folders!r}:
                try:
                    found["listed"][folder] = os.listdir(folder)
                except OSError:
                    continue
            print(json.dumps(found))
        """)
        targets = [session, Path(home_file.name), source]
        if runner == "uid+limits" and not any(_readable_by_others(t) for t in targets):
            # the throwaway uid is this tier's only guard for files: it keeps out what others cannot read
            # (a checkout, home and temp folder under mode 700, as in a fresh mktemp clone), so nothing shows here
            pytest.skip("no target is readable by other users on this machine: the uid alone keeps them out")
        result = run_under(runner, reader, Limits())
    assert result.passed, result
    found = json.loads(result.stdout)
    assert found["read"] == {}
    shown = {folder: set(names) - _bound_names(Path(folder)) for folder, names in found["listed"].items()}
    assert all(names == set() for names in shown.values()), shown


def _readable_by_others(path: Path) -> bool:
    """Whether a user other than the owner can read the file: every folder above it searchable, the file readable."""
    folders = list(path.resolve().parents)
    return bool(path.stat().st_mode & stat.S_IROTH) and all(f.stat().st_mode & stat.S_IXOTH for f in folders)


def _own_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return address


@pytest.mark.parametrize("runner", runners("network"), indirect=True)
def test_the_network_is_unreachable_even_on_localhost(runner: str) -> None:
    with socket.create_server(("0.0.0.0", 0)) as listener:
        port = listener.getsockname()[1]
        addresses = ["127.0.0.1", *filter(None, [_own_address()])]
        caller = program(f"""
            import socket
            for address in {addresses!r}:
                try:
                    socket.create_connection((address, {port}), timeout=3).close()
                    print("connected", address)
                except OSError as error:
                    print("no connection", address, error)
        """)
        result = run_under(runner, caller, Limits())
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()[0].close()
    assert result.passed, result
    assert "connected" not in result.stdout


SECRETS = {"LIVEMIND_API_KEY": "lm-secret-6d1f0c", "OPENAI_API_KEY": "sk-secret-93be47"}
KILL_MARK = "# a kill attack on a stand-in for LiveMind"
KILL = program(f"""
    {KILL_MARK}
    import os, signal
    if os.readlink("/proc/self/ns/pid") == {{host_pid_namespace}}:
        raise SystemExit("refused: this is the test run's own pid namespace")
    for name, kill in [("its pid", lambda: os.kill({{stand_in}}, signal.SIGKILL)),
                       ("its process group", lambda: os.killpg({{group}}, signal.SIGKILL)),
                       ("the program's parent", lambda: os.kill(os.getppid(), signal.SIGKILL)),
                       ("every process", lambda: os.kill(-1, signal.SIGKILL))]:
        try:
            kill()
            print("sent", name)
        except OSError as error:
            print("could not signal", name, error)
    print("done")
""")
SNOOP = program("""
    import os
    seen = [repr(dict(os.environ))]
    pids = [os.getpid(), {stand_in}]  # its own ancestry, then LiveMind's pid as the host knows it
    while pids:
        pid = pids.pop(0)
        try:
            with open(f"/proc/{pid}/environ", "rb") as file:
                seen.append(file.read().decode(errors="replace"))
            with open(f"/proc/{pid}/stat") as file:
                parent = int(file.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError) as error:
            seen.append(repr(error))
            continue
        if parent > 0 and len(seen) < 40:
            pids.insert(0, parent)
    print("\\n".join(seen))
""")


@pytest.fixture(scope="module")
def stand_in_outcomes() -> dict[str, dict[str, object]]:
    """Every runner's attacks on a stand-in for LiveMind (secrets in its environment), in a throwaway pid namespace."""
    if not is_root() or shutil.which("unshare") is None:
        pytest.skip("the throwaway pid namespace the stand-in needs is made with `unshare --pid`, as root")
    kill = KILL.replace("{host_pid_namespace}", repr(host_pid_namespace()))
    requests = []
    for runner in RUNNERS:
        if not unavailable_because(runner):
            requests += [(runner, "signals", kill), (runner, "environment", SNOOP)]
    done = subprocess.run(["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", sys.executable, "-m",
                           "tests.sandbox.stand_in", json.dumps(requests)], env={**os.environ, **SECRETS},
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    for program_file in Path(tempfile.gettempdir()).glob("livemind-sandbox-*/main.py"):  # a killed LiveMind's runs
        if KILL_MARK in program_file.read_text(errors="replace"):
            shutil.rmtree(program_file.parent, ignore_errors=True)
    outcomes: dict[str, dict[str, object]] = json.loads(done.stdout)
    return outcomes


@pytest.mark.parametrize("runner", runners("signals"), indirect=True)
def test_a_program_cannot_kill_livemind(runner: str, stand_in_outcomes: dict[str, dict[str, object]]) -> None:
    outcome = stand_in_outcomes[f"{runner}/signals"]
    assert outcome["survived"] is True, outcome
    assert outcome["status"] == "passed", outcome  # the stand-in saw its run end
    assert str(outcome["stdout"]).endswith("done\n"), outcome  # it tried every kill and lived on


@pytest.mark.parametrize("runner", runners("environment"), indirect=True)
def test_secrets_in_livemind_environment_are_not_visible(runner: str, stand_in_outcomes: dict[str, dict[str, object]]) -> None:
    outcome = stand_in_outcomes[f"{runner}/environment"]
    assert outcome["status"] == "passed", outcome
    assert all(secret not in str(outcome["stdout"]) for secret in SECRETS.values())


HECKLER = program("""
    import os, signal
    for pid in (1, os.getppid()):  # init, in the run's own pid namespace
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGSTOP):
            try:
                os.kill(pid, signum)
            except OSError:
                continue
        try:
            print("fds of", pid, os.listdir(f"/proc/{pid}/fd"))  # init's descriptors include its report to LiveMind
        except OSError:
            continue
    print("done")
""")


@pytest.mark.parametrize("runner", runners("the launcher", is_harmful_uncontained=True), indirect=True)
def test_a_program_cannot_stop_or_trace_the_launcher_even_with_its_uid(runner: str) -> None:
    result = run_under(runner, HECKLER, Limits(wall_s=5))
    assert result.passed and result.stdout == "done\n", result


def _processes_marked(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("runner", runners("leftovers"), indirect=True)
def test_no_process_of_a_run_outlives_it(runner: str) -> None:
    marker = f"livemind-sandbox-daemon-{uuid.uuid4().hex}"
    daemon = program(f"""
        import os, sys
        ready, started = os.pipe()  # close-on-exec: EOF once the grandchild has exec'd
        if os.fork() == 0:
            os.close(ready)
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-S", "-c", "import time; time.sleep(60)", {marker!r}])
            os._exit(0)
        os.close(started)
        os.read(ready, 1)
        print("daemon started")
    """)
    try:
        result = run_under(runner, daemon, Limits())
        assert result.passed and "daemon started" in result.stdout, result
        assert _processes_marked(marker) == []
    finally:
        for pid in _processes_marked(marker):
            os.kill(pid, 9)


def test_the_best_tier_contains_every_attack_and_bare_contains_none() -> None:
    assert all(contains(RUNNERS["namespaces+cgroup"], attack) for attack in ATTACKS)
    assert not any(contains(RUNNERS[BARE], attack) for attack in ATTACKS)
