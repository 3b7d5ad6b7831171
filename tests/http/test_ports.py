"""The four ports' roles (livemind.http.ports) as rules: what each serves, fills in and refuses.

Fast checks of the rules alone; tests/http/test_axion_ports.py runs them in a real server.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from livemind.http.errors import HttpProblem
from livemind.http.ports import PortPlan, check_request
from tests.support.servers import REPO, clean_env, four_free_ports

PLAN = PortPlan.from_base(8082)
CHAT = "/v1/chat/completions"
CONSENSUS = "/v1/livemind/consensus"


def refused(role: str, path: str, body: dict[str, object]) -> HttpProblem:
    with pytest.raises(HttpProblem) as caught:
        check_request(PLAN, role, path, body)  # type: ignore[arg-type]
    assert caught.value.status == 400 and caught.value.code == "wrong_port"
    return caught.value


def test_the_seed_s_ports_in_its_order_and_a_base_that_leaves_room_for_four() -> None:
    assert PLAN.ports == {"complete": 8082, "streaming": 8083, "council": 8084, "safe": 8085}
    assert PortPlan.from_base(9000).role_of(9003) == "safe" and PLAN.role_of(8080) is None
    with pytest.raises(ValueError, match="no room for four ports"):
        PortPlan.from_base(65533)


@pytest.mark.parametrize(("role", "path", "body", "right_port"), [
    ("complete", CHAT, {"model": "coder", "stream": True}, 8083),
    ("complete", CHAT, {"model": "livemind-consensus"}, 8084),
    ("complete", CONSENSUS, {"question": "q"}, 8084),
    ("streaming", CHAT, {"model": "coder"}, 8082),
    ("streaming", CHAT, {"model": "coder", "stream": False}, 8082),
    ("council", CHAT, {"model": "livemind-auto"}, 8082),
    ("council", CHAT, {"model": "coder", "stream": True}, 8083),
    ("council", CONSENSUS, {"question": "q", "mode": "turns"}, 8085),
    ("safe", CHAT, {"model": "livemind-debate", "livemind": {"mode": "parallel"}}, 8084),
])
def test_a_request_the_port_does_not_serve_is_refused_naming_the_port_that_does(
        role: str, path: str, body: dict[str, object], right_port: int) -> None:
    problem = refused(role, path, body)
    assert f"send it to port {right_port}" in problem.message and f"port {PLAN.ports[role]} serves" in problem.message  # type: ignore[index]


def test_each_port_serves_its_own_requests_and_fills_in_only_a_council_s_missing_mode() -> None:
    single = {"model": "coder", "messages": []}
    assert check_request(PLAN, "complete", CHAT, single) is single
    assert check_request(PLAN, "streaming", CHAT, {**single, "stream": True})["stream"] is True
    assert check_request(PLAN, "safe", CHAT, {**single, "stream": True})["model"] == "coder"
    council = check_request(PLAN, "council", CHAT, {"model": "livemind-consensus", "livemind": {"experts": ["a"]}})
    assert council["livemind"] == {"experts": ["a"], "mode": "parallel"}
    assert check_request(PLAN, "safe", CONSENSUS, {"question": "q"})["mode"] == "turns"
    assert check_request(PLAN, "safe", CONSENSUS, {"question": "q", "mode": "auto"})["mode"] == "turns"
    asked = {"question": "q", "mode": "parallel"}
    assert check_request(PLAN, "council", CONSENSUS, asked) is asked


def test_serve_refuses_to_start_when_one_of_the_four_ports_is_taken() -> None:
    base = four_free_ports()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 2))
        taken.listen(1)
        done = subprocess.run([sys.executable, "-m", "livemind.cli.main", "serve", "--axion-ports", str(base)],
                              cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"cannot listen on 127.0.0.1:{base + 2}" in done.stderr and "--axion-ports BASE" in done.stderr
