"""Server processes for the reliability tests: start, follow the log, sample memory, stop.

Start-up is followed through the server's own log lines (no polling) and bounded; stopping
sends SIGTERM and bounds the exit. `RssSampler` reads the process's resident memory and the
pool's own account (`/v1/livemind/status`) at a fixed interval while a test drives load.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[2]
READY_LINE = "livemind.http: ready:"
STARTUP_S = 240.0
EXIT_S = 90.0
MiB = 2**20


@dataclass
class ServerProcess:
    """A running server and everything it has logged so far."""

    base_url: str
    port: int
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    follower: threading.Thread | None = None
    idle_rss: int = 0  # bytes, process and children, when a fixture measured it before any model loaded
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def log(self) -> str:
        with self._lock:
            return "".join(self.lines)

    @property
    def pid(self) -> int:
        return self.process.pid

    def mark(self) -> int:
        """How many log lines exist now (to read only what a test caused)."""
        with self._lock:
            return len(self.lines)

    def log_since(self, mark: int) -> str:
        with self._lock:
            return "".join(self.lines[mark:])

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send sig (SIGTERM: the drain) and return the exit status, bounded by EXIT_S."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(EXIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(EXIT_S)
            raise AssertionError(f"the server did not exit within {EXIT_S} s of signal {sig}\n{self.log[-3000:]}") \
                from None
        finally:
            if self.follower is not None:
                self.follower.join(EXIT_S)  # the log reaches EOF once the process is gone
            if self.process.stderr is not None:
                self.process.stderr.close()


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def four_free_ports() -> int:
    """A base port such that base .. base+3 are all free on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base > 65532:
            continue
        taken = []
        try:
            for port in range(base, base + 4):
                sock = socket.socket()
                taken.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in taken:
                sock.close()
    raise AssertionError("no four consecutive free ports found")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the caller's LIVEMIND_* settings (but the suite's council), plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEMIND_") or k == "LIVEMIND_COUNCIL"}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


LISTENING_LINE = "Uvicorn running on"


def start(command: Sequence[str], env: dict[str, str], port: int, *, startup_s: float = STARTUP_S,
          ready_line: str = READY_LINE, while_starting: Callable[[ServerProcess], None] | None = None) -> ServerProcess:
    """Start a server command and return once it logs `ready_line` (bounded by startup_s).

    `while_starting` runs once the socket listens and before the server says ready (if it has
    not said it yet): a test can see what a client gets during start-up.
    """
    process = subprocess.Popen(list(command), cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    server = ServerProcess(f"http://127.0.0.1:{port}", port, process)
    listening, ready = threading.Event(), threading.Event()

    def follow_log() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            with server._lock:
                server.lines.append(line)
            if LISTENING_LINE in line:
                listening.set()
            if ready_line in line:
                ready.set()
        listening.set()  # the process ended: stop waiting
        ready.set()

    server.follower = threading.Thread(target=follow_log, daemon=True)
    server.follower.start()
    try:
        if while_starting is not None:
            assert listening.wait(startup_s), f"not listening within {startup_s} s\n{server.log[-3000:]}"
            if process.poll() is None and not ready.is_set():
                while_starting(server)
        assert ready.wait(startup_s), f"not ready within {startup_s} s\n{server.log[-3000:]}"
        assert process.poll() is None, f"the server exited with {process.returncode}\n{server.log[-3000:]}"
    except BaseException:
        server.stop(signal.SIGKILL)
        raise
    return server


def start_fake_server(home: Path, *, pace_ms: float = 2.0, budget_mib: int = 250, max_queue: int = 8,
                      drain_s: float = 10.0, api_key: str | None = None) -> ServerProcess:
    """The product's HTTP server over scripted backends (tests/reliability/fake_server.py)."""
    port = free_port()
    command = [sys.executable, "-m", "tests.reliability.fake_server", "--home", str(home), "--port", str(port),
               "--pace-ms", str(pace_ms), "--budget-mib", str(budget_mib), "--max-queue", str(max_queue),
               "--drain-s", str(drain_s)]
    if api_key:
        command += ["--api-key", api_key]
    return start(command, clean_env(), port)


def start_livemind_serve(home: Path, *, config: Path | None = None, ram_budget: str | None = None,
                         api_key: str | None = None, extra_args: Sequence[str] = ()) -> ServerProcess:
    """`livemind serve` itself, with an isolated LIVEMIND_HOME."""
    port = free_port()
    env = clean_env(LIVEMIND_HOME=str(home))
    if config is not None:
        env["LIVEMIND_CONFIG"] = str(config)
    if ram_budget is not None:
        env["LIVEMIND_RAM_BUDGET"] = ram_budget
    if api_key is not None:
        env["LIVEMIND_API_KEY"] = api_key
    command = [sys.executable, "-m", "livemind.cli.main", "serve", "--port", str(port), *extra_args]
    return start(command, env, port)


@dataclass(frozen=True)
class MemorySample:
    """One reading: the process's RSS (children included) and the pool's own account of its models."""

    at: float
    rss: int
    pool_bytes: int
    budget_bytes: int | None
    evictions: int = 0


def rss_of(process: psutil.Process) -> int:
    """Resident bytes of a process and all its children, measured now."""
    rss = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            rss += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue  # ended between the listing and the reading
    return rss


class RssSampler:
    """Samples a server's RSS and pool bytes every interval_s on a background thread."""

    def __init__(self, server: ServerProcess, *, interval_s: float = 0.25) -> None:
        self._server = server
        self._process = psutil.Process(server.pid)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.samples: list[MemorySample] = []

    def read(self) -> MemorySample:
        """One reading now: the server's RSS with its children's, and the pool's own estimate."""
        status = httpx.get(f"{self._server.base_url}/v1/livemind/status", timeout=30).json()["pool"]
        rss = rss_of(self._process)
        return MemorySample(time.monotonic(), rss, int(status["pool_bytes"]), status["budget_bytes"],
                            int(status.get("evictions", 0)))

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):  # a sampling period, not a wait for an event
            try:
                self.samples.append(self.read())
            except (httpx.HTTPError, psutil.Error):
                return  # the server went away: the test reports that itself

    def __enter__(self) -> RssSampler:
        self.samples.append(self.read())
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(30)
        self.samples.append(self.read())

    @property
    def peak_rss(self) -> int:
        return max(s.rss for s in self.samples)

    @property
    def peak_pool_bytes(self) -> int:
        return max(s.pool_bytes for s in self.samples)


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, object]]]:
    """(event name, JSON data) for each Server-Sent Event; `[DONE]` becomes {"done": True}."""
    name, data = "message", ""
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif not line and data:
            yield name, json.loads(data) if data != "[DONE]" else {"done": True}
            name, data = "message", ""


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100.0 * len(ordered) + 0.5) - 1))
    return ordered[rank]
