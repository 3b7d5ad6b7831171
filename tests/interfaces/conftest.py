"""Fixtures shared by the interface tests that need no model: a scripted LiveMind and the HTTP app over it.

A module that defines its own `mind` (test_mcp.py, test_mcp_gate.py) keeps its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from livemind.orchestrator import LiveMind
from tests.support.fakes import ScriptedLoader
from tests.support.faults import fault_config
from tests.support.inprocess import serve_in_process
from tests.support.minds import open_mind, stubborn


@pytest.fixture(scope="module")
def mind(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[LiveMind]:
    """alpha, beta, gamma over scripted backends (one per module)."""
    home = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    opened = open_mind(home, fault_config(home), ScriptedLoader(stubborn))
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def http(mind: LiveMind) -> Iterator[TestClient]:
    """The real HTTP app over `mind`, in process, once it says ready."""
    with serve_in_process(mind) as (client, _service):
        yield client
