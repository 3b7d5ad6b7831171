"""Council strategies and prompt layouts over HTTP, in process (Starlette's TestClient runs the app's lifespan) on scripted
experts: the options reach the graph and the result carries its own control."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from livemind.council.prompts import COUNCIL_SYSTEM, SHARED_END, SYNTHESIS_MARKER
from livemind.http.app import ServeOptions, Service, create_app
from livemind.orchestrator import LiveMind
from livemind.types import GenerationRequest
from tests.support.minds import EXPERTS, numeric_answers, recording_mind, scripted

READY_DEADLINE_S = 30.0


def _client(tmp_path: Path) -> TestClient:
    mind, _ = scripted(tmp_path, numeric_answers({"alpha": 3, "beta": 8, "gamma": 8}))
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


def _transcript_client(tmp_path: Path, prompts: list[GenerationRequest]) -> tuple[TestClient, LiveMind]:
    """A client over scripted experts that read either prompt layout; every request lands in `prompts`."""
    mind = recording_mind(tmp_path, prompts)
    return TestClient(create_app(Service(mind, ServeOptions()), host="127.0.0.1", api_key=None),
                      base_url="http://127.0.0.1"), mind


def test_a_shared_transcript_over_http_reaches_the_debate(tmp_path: Path) -> None:
    prompts: list[GenerationRequest] = []
    client, mind = _transcript_client(tmp_path, prompts)
    with client:
        _wait_ready(client)
        response = client.post("/v1/livemind/debate", json={
            "question": "which claim holds", "experts": list(EXPERTS), "rounds": 1, "mode": "parallel",
            "selective": False, "transcript": "shared", "stream": False})
        assert response.status_code == 200, response.text
        assert mind.session(response.json()["session_id"]).params["transcript"] == "shared"
    answered = [p for p in prompts if SYNTHESIS_MARKER not in p.messages[-1].content]
    assert len(answered) == 6 and all(SHARED_END in p.messages[-1].content for p in answered)


def test_a_shared_transcript_in_the_livemind_options_reaches_a_consensus(tmp_path: Path) -> None:
    prompts: list[GenerationRequest] = []
    client, _ = _transcript_client(tmp_path, prompts)
    with client:
        _wait_ready(client)
        response = client.post("/v1/chat/completions", json={
            "model": "livemind-consensus", "messages": [{"role": "user", "content": "which claim holds"}],
            "livemind": {"experts": list(EXPERTS), "transcript": "shared"}})
    assert response.status_code == 200, response.text
    answered = [p for p in prompts if SYNTHESIS_MARKER not in p.messages[-1].content]
    assert len(answered) == 3 and all(p.messages[0].content == COUNCIL_SYSTEM for p in answered)


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/livemind/debate", {"question": "q", "transcript": "public", "stream": False}),
    ("/v1/livemind/consensus", {"question": "q", "transcript": "Shared", "stream": False}),
    ("/v1/chat/completions", {"model": "livemind-debate", "messages": [{"role": "user", "content": "q"}],
                              "livemind": {"transcript": "public"}}),
])
def test_an_unknown_transcript_is_a_400_naming_the_field_and_the_choices(tmp_path: Path, path: str,
                                                                          body: dict[str, object]) -> None:
    with _client(tmp_path) as client:
        _wait_ready(client)
        response = client.post(path, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and "transcript" in error["message"]
    assert "'private' or 'shared'" in error["message"], error


def test_a_transcript_for_a_single_expert_is_a_400(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        _wait_ready(client)
        response = client.post("/v1/chat/completions", json={
            "model": "alpha", "messages": [{"role": "user", "content": "q"}], "livemind": {"transcript": "shared"}})
    assert response.status_code == 400, response.text
    assert "council options apply to" in response.json()["error"]["message"]


@pytest.mark.parametrize("route", ["council", "chat"])
def test_a_council_temperature_over_http_reaches_every_expert_answer(tmp_path: Path, route: str) -> None:
    prompts: list[GenerationRequest] = []
    client, _ = _transcript_client(tmp_path, prompts)
    with client:
        _wait_ready(client)
        if route == "council":
            response = client.post("/v1/livemind/consensus", json={"question": "which holds", "experts": ["alpha", "beta"],
                                                                    "temperature": 0.0, "stream": False})
        else:
            response = client.post("/v1/chat/completions", json={
                "model": "livemind-consensus", "messages": [{"role": "user", "content": "which holds"}],
                "temperature": 0.0, "livemind": {"experts": ["alpha", "beta"]}})
    assert response.status_code == 200, response.text
    answers = [p for p in prompts if SYNTHESIS_MARKER not in p.messages[-1].content]
    assert len(answers) == 2 and {p.sampling.temperature for p in answers} == {0.0}
