"""HTTP behaviour that needs no model, against the real app in process (scripted backends, real openai client)."""

from __future__ import annotations

import json

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from livemind.orchestrator import LiveMind
from tests.support.inprocess import openai_client, serve_in_process

API_KEY = "in-process-key-7"


def _chat(model: str, content: str, **fields: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **fields}


def test_models_lists_every_expert_then_the_virtual_models(http: TestClient) -> None:
    ids = [m.id for m in openai_client(http).models.list()]
    assert ids == ["alpha", "beta", "gamma", "livemind-auto", "livemind-consensus", "livemind-debate"]


@pytest.mark.parametrize(("body", "status", "says"), [
    (b"{\"model\": \"alpha\", \"messages\": [", 400, "not valid JSON"),
    (json.dumps({"model": "alpha", "messages": "hello"}).encode(), 400, "field 'messages'"),
    (json.dumps(_chat("alpha", "hi", max_tokens="12")).encode(), 400, "field 'max_tokens'"),
    (json.dumps(_chat("gpt-4o", "hi")).encode(), 404, "unknown model 'gpt-4o'"),
    (json.dumps({"model": "alpha", "messages": []}).encode(), 400, "'messages' is empty"),
    (json.dumps(_chat("alpha", "x" * 20_000)).encode(), 400, "over the limit of 16000"),
    (json.dumps(_chat("alpha", "x" * (2 * 2**20))).encode(), 413, "over the limit of 1048576 bytes"),
    (json.dumps(_chat("livemind-consensus", "hi", livemind={"rounds": 2})).encode(), 400, "runs no debate rounds"),
    (json.dumps(_chat("alpha", "hi", livemind={"rounds": 2})).encode(), 400, "council options apply to"),
], ids=["bad-json", "wrong-type", "string-number", "unknown-model", "empty-messages", "long-prompt",
        "huge-body", "consensus-rounds", "options-on-an-expert"])
def test_malformed_requests_get_a_4xx_that_says_what_is_wrong(http: TestClient, body: bytes, status: int,
                                                              says: str) -> None:
    response = http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert says in error["message"], error
    if status == 404:
        assert "livemind-consensus" in error["hint"]


def test_the_openai_client_raises_a_clear_error_for_an_unknown_model(http: TestClient) -> None:
    with pytest.raises(openai.NotFoundError) as refused:
        openai_client(http).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert "unknown model 'gpt-4o'" in str(refused.value)


def test_metrics_count_a_served_request_and_show_the_pool(http: TestClient) -> None:
    def scrape() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        response = http.get("/metrics")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        return {(s.name, frozenset(s.labels.items())): s.value
                for family in text_string_to_metric_families(response.text) for s in family.samples}

    def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
        return samples.get((name, frozenset(labels.items())), 0.0)

    before = scrape()
    completion = openai_client(http).chat.completions.create(model="beta", max_tokens=6,
                                                             messages=[{"role": "user", "content": "Say hi."}])
    assert completion.choices[0].message.content
    after = scrape()
    served = {"endpoint": "chat.completions", "model": "beta", "outcome": "ok"}
    assert value(after, "livemind_requests_total", **served) - value(before, "livemind_requests_total", **served) == 1
    ok = {"method": "POST", "path": "/v1/chat/completions", "status": "200"}
    assert value(after, "livemind_http_requests_total", **ok) - value(before, "livemind_http_requests_total", **ok) == 1
    assert value(after, "livemind_models_loaded") >= 1 and value(after, "livemind_ready") == 1


def test_with_an_api_key_everything_but_health_needs_the_bearer_token(mind: LiveMind) -> None:
    with serve_in_process(mind, api_key=API_KEY) as (client, _service):
        assert client.get("/health").status_code == 200
        for method, path in (("GET", "/v1/models"), ("GET", "/metrics"), ("POST", "/v1/chat/completions"),
                             ("POST", "/v1/livemind/debate"), ("GET", "/v1/livemind/status"), ("POST", "/mcp")):
            refused = client.request(method, path, json={})
            assert refused.status_code == 401, (path, refused.text)
            assert "LIVEMIND_API_KEY" in refused.json()["error"]["message"]
        with pytest.raises(openai.AuthenticationError):
            openai_client(client, api_key="wrong").models.list()
        assert [m.id for m in openai_client(client, api_key=API_KEY).models.list()][:3] == ["alpha", "beta", "gamma"]


def test_without_an_api_key_every_endpoint_is_open_on_loopback(http: TestClient) -> None:
    assert http.get("/v1/models").status_code == 200
    assert http.get("/metrics").status_code == 200
