"""`langgraph dev` serves the LiveMind graph from langgraph.json; a langgraph-sdk client streams a run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph_sdk import get_sync_client

from tests.support.servers import REPO, free_port

pytestmark = pytest.mark.slow
ROOT = REPO


@pytest.fixture(scope="module")
def langgraph_dev(tmp_path_factory: pytest.TempPathFactory, models_home: Path) -> Iterator[str]:
    home = tmp_path_factory.mktemp("lg-home")
    (home / "models").symlink_to(models_home / "models", target_is_directory=True)
    cli = shutil.which("langgraph", path=str(Path(sys.executable).parent))
    assert cli, "langgraph-cli[inmem] is part of the dev extras"
    workdir = tmp_path_factory.mktemp("lg-work")  # keeps its .langgraph_api state out of the repo
    shutil.copy(ROOT / "langgraph.json", workdir / "langgraph.json")
    (workdir / "graphs").symlink_to(ROOT / "graphs", target_is_directory=True)
    process = subprocess.Popen(
        [cli, "dev", "--no-browser", "--no-reload", "--port", str(free_port()), "--config",
         str(workdir / "langgraph.json")],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # unbuffered: if it ever fails to start again, the log shows how far it got
        env={**os.environ, "LIVEMIND_HOME": str(home), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
    url: list[str] = []
    ready = threading.Event()
    log: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line)
            match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            if match and not url:
                url.append(match.group(1))
            if "Application started up" in line or "Application startup complete" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(180) or not url:
            pytest.fail("langgraph dev did not start:\n" + "".join(log[-60:]))
        yield url[0]
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_langgraph_dev_serves_the_graph_and_an_sdk_client_streams_a_run(langgraph_dev: str) -> None:
    client = get_sync_client(url=langgraph_dev)
    assistants = client.assistants.search(graph_id="livemind")
    assert assistants, "the livemind graph is registered"
    schemas = client.assistants.get_schemas(assistants[0]["assistant_id"])
    assert "question" in schemas["input_schema"]["properties"], "the input schema: what a caller sends"
    assert set(schemas["output_schema"]["properties"]) == {"result"}
    thread = client.threads.create()
    modes: set[str] = set()
    final: dict[str, object] = {}
    started = time.monotonic()
    for part in client.runs.stream(thread["thread_id"], "livemind",
                                   input={"question": "What is 2 plus 2?", "options": {"mode": "parallel",
                                          "experts": ["generalist", "mathematician"], "rounds": 0,
                                          "max_tokens": 24, "seed": 1}},
                                   stream_mode=["values", "custom"]):
        modes.add(part.event)
        if part.event == "values" and isinstance(part.data, dict):
            final = part.data
    assert "custom" in modes and "values" in modes
    result = final.get("result")
    assert isinstance(result, dict) and result["answer"]
    assert {p["expert"] for p in result["positions"]} == {"generalist", "mathematician"}
    assert time.monotonic() - started < 600
