"""The real HTTP app in process: Starlette's test client over `create_app`, lifespan included, no socket.

For the tests that need no model (auth, 4xx, listings, metrics over scripted backends): they run
in milliseconds where a `livemind serve` process takes seconds to start.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import openai
from starlette.testclient import TestClient

from livemind.http.app import ServeOptions, Service, create_app
from livemind.orchestrator import LiveMind

READY_S = 30.0


@contextmanager
def serve_in_process(mind: LiveMind, *, api_key: str | None = None,
                     options: ServeOptions | None = None) -> Iterator[tuple[TestClient, Service]]:
    """The app over `mind`, once its background start-up says ready."""
    service = Service(mind, options or ServeOptions())
    with TestClient(create_app(service, host="127.0.0.1", api_key=api_key)) as client:
        deadline = time.monotonic() + READY_S
        while not service.is_ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert service.is_ready(), service.failure or f"not ready within {READY_S} s"
        yield client, service


def openai_client(client: TestClient, api_key: str = "unused") -> openai.OpenAI:
    """The official openai client, talking to the in-process app through the test client's transport."""
    # the test client is an httpx.Client whose transport calls the ASGI app
    return openai.OpenAI(base_url="http://testserver/v1", api_key=api_key, max_retries=0,
                         http_client=client)  # type: ignore[arg-type]
