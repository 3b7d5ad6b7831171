"""Council strategies over HTTP, in process (Starlette's TestClient runs the app's lifespan) on scripted
experts: the options reach the graph and the result carries its own control."""

from __future__ import annotations

import time
from pathlib import Path

from starlette.testclient import TestClient

from livemind.http.app import ServeOptions, Service, create_app
from tests.test_graph import EXPERTS, _mind
from tests.test_strategies import _numbers

READY_DEADLINE_S = 30.0


def _client(tmp_path: Path) -> TestClient:
    mind, _ = _mind(tmp_path, _numbers({"alpha": 3, "beta": 8, "gamma": 8}))
    return TestClient(create_app(Service(mind, ServeOptions()), host="127.0.0.1", api_key=None),
                      base_url="http://127.0.0.1")


def _wait_ready(client: TestClient) -> None:
    deadline = time.monotonic() + READY_DEADLINE_S  # the router warms up in the lifespan
    while client.get("/health").status_code != 200:
        assert time.monotonic() < deadline, "the server never became ready"
        time.sleep(0.05)


def test_a_vote_over_http_answers_with_the_majority_and_says_how(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        _wait_ready(client)
        response = client.post("/v1/livemind/debate", json={"question": "What is 2*4?", "experts": list(EXPERTS),
                                                             "strategy": "vote", "stream": False})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["strategy"] == "vote" and result["answer_value"] == 8 and result["first_vote"] == 8
    assert result["synthesizer"] in ("vote: beta", "vote: gamma")


def test_an_unknown_strategy_is_a_400_naming_the_field(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        _wait_ready(client)
        response = client.post("/v1/livemind/debate", json={"question": "q", "strategy": "shout", "stream": False})
    assert response.status_code == 400, response.text
    assert "strategy" in response.text
