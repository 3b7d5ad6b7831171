"""Remote experts against real servers on 127.0.0.1: a mixed council, a down host, a silent host."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from livemind.config import parse_config
from livemind.engine.catalog import ModelCatalog
from livemind.orchestrator import LiveMind
from tests.support.servers import free_port

pytestmark = pytest.mark.slow


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, deadline_s: float = 180.0) -> None:
    """Poll until the URL answers; fail with the server's log if it dies or the deadline passes."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)  # bounded poll of a server we just started
    pytest.fail(f"{url} not ready after {deadline_s} s: {log.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="module")
def llama_server(models_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's own OpenAI server serving SmolLM2 (its log goes to a file, never a full pipe)."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    model = ModelCatalog(models_home).resolve("smollm2-135m").path
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", "2048", "--model_alias", "smollm2"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_for(f"http://127.0.0.1:{port}/v1/models", process, log)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _council(tmp_home: Path, remote_url: str, *, timeout_s: float = 60.0, extra_local: bool = False,
             api_key: str | None = None) -> LiveMind:
    experts = [
        {"name": "generalist", "model": "smollm2-135m", "persona": "You are a careful generalist.",
         "description": "general knowledge", "examples": ["What is the capital of France?"],
         "sampling": {"temperature": 0.0, "max_tokens": 32}},
        {"name": "remote-smol", "model": "smollm2", "persona": "You are a concise expert on another host.",
         "description": "general knowledge from a remote host", "examples": ["Name a big city."],
         "sampling": {"temperature": 0.0, "max_tokens": 32},
         "remote": {"base_url": remote_url, "model": "smollm2", "timeout_s": timeout_s, "max_retries": 1,
                    "api_key": api_key}},
    ]
    if extra_local:
        experts.append({"name": "coder", "model": "smollm2-135m", "persona": "You are a software engineer.",
                        "description": "programming", "examples": ["Write a Python function."],
                        "sampling": {"temperature": 0.0, "max_tokens": 32}})
    doc = {"experts": experts, "router": {"fallback": "generalist"},
           "debate": {"synthesizer": "generalist", "max_rounds": 1, "quorum": 1 if not extra_local else 2}}
    config = parse_config(doc, ModelCatalog(tmp_home))
    return LiveMind(config, home=tmp_home)


def test_mixed_council_of_local_and_llama_cpp_server_expert_completes(home: Path, llama_server: str) -> None:
    mind = _council(home, llama_server)
    try:
        result = mind.debate("What is the capital of France?", experts=["generalist", "remote-smol"], rounds=1,
                             mode="parallel", seed=3)
    finally:
        mind.close()
    assert {p.expert for p in result.positions} == {"generalist", "remote-smol"}
    assert not result.dropped
    transcript = (home / "transcripts" / f"{result.session_id}.md").read_text()
    assert "### generalist" in transcript and "### remote-smol" in transcript
    remote_slots = [e for e in mind.pool.events if e.model == "smollm2" and e.kind == "load"]
    assert remote_slots and remote_slots[0].bytes == 0, "a remote expert counts as zero local memory"


def test_down_remote_expert_is_dropped_with_a_reason_and_the_debate_completes(home: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens here
    mind = _council(home, dead, extra_local=True)
    try:
        result = mind.debate("Name a primary colour.", experts=["generalist", "remote-smol", "coder"], rounds=1,
                             mode="parallel")
    finally:
        mind.close()
    assert [d.expert for d in result.dropped] == ["remote-smol"]
    assert "unreachable" in result.dropped[0].reason
    assert {p.expert for p in result.positions} == {"generalist", "coder"}
    assert result.answer


def test_silent_remote_expert_is_dropped_after_its_timeout(home: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections, never answers
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    mind = _council(home, url, timeout_s=2.0, extra_local=True)
    started = time.monotonic()
    try:
        result = mind.debate("Name a primary colour.", experts=["generalist", "remote-smol", "coder"], rounds=0,
                             mode="parallel")
    finally:
        mind.close()
        listener.close()
    assert [d.expert for d in result.dropped] == ["remote-smol"]
    assert time.monotonic() - started < 120
    assert {p.expert for p in result.positions} == {"generalist", "coder"}


def test_remote_api_key_is_not_written_to_transcripts_or_logs(home: Path, llama_server: str,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    mind = _council(home, llama_server, api_key="sekret-key-123")
    try:
        result = mind.consensus("Say hi.", experts=["generalist", "remote-smol"])
    finally:
        mind.close()
    assert {p.expert for p in result.positions} == {"generalist", "remote-smol"}
    for path in (home / "transcripts").iterdir():
        assert "sekret-key-123" not in path.read_text()
    assert "sekret-key-123" not in caplog.text


@pytest.fixture(scope="module")
def livemind_server(models_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second LiveMind process (`livemind serve`) with its own home."""
    home = tmp_path_factory.mktemp("second-livemind")
    (home / "models").symlink_to(models_home / "models", target_is_directory=True)
    log = home / "serve.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "LIVEMIND_API_KEY"}
    process = subprocess.Popen([sys.executable, "-m", "livemind.cli.main", "serve", "--port", str(port)],
                               stdout=log.open("wb"), stderr=subprocess.STDOUT, env={**env, "LIVEMIND_HOME": str(home)})
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process, log, deadline_s=300)  # 200 only once ready
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_a_second_livemind_server_serves_as_a_remote_expert(home: Path, livemind_server: str) -> None:
    experts = [
        {"name": "generalist", "model": "smollm2-135m", "persona": "You are a careful generalist.",
         "description": "general knowledge", "sampling": {"temperature": 0.0, "max_tokens": 24}},
        {"name": "peer", "model": "peer-generalist", "persona": "You are a concise expert on another host.",
         "description": "a remote LiveMind", "sampling": {"temperature": 0.0, "max_tokens": 24},
         "remote": {"base_url": livemind_server, "model": "generalist", "timeout_s": 120, "max_retries": 1}},
    ]
    doc = {"experts": experts, "router": {"fallback": "generalist"}, "debate": {"synthesizer": "generalist", "quorum": 1}}
    mind = LiveMind(parse_config(doc, ModelCatalog(home)), home=home)
    try:
        result = mind.consensus("What is the capital of France?", experts=["generalist", "peer"])
    finally:
        mind.close()
    assert not result.dropped, result.dropped
    peer = next(p for p in result.positions if p.expert == "peer")
    assert peer.text.strip() and peer.tokens > 0
