"""The peers LiveMind is measured against.

- Raw llama-cpp-python in this process: `Llama.create_chat_completion(stream=True)` with the
  same model file, engine settings, messages and seeds. It takes the library from the engine
  module (which sets its OpenMP wait policy first), so both sides run the same engine build.
- A server process (LiveMind's `livemind serve`, `python -m llama_cpp.server`, or llama.cpp's
  `llama-server` built from the wheel's own source), started, health-checked and stopped around a
  measurement.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from livemind.engine.backends.base import available_cores
from livemind.engine.backends.llama_cpp import KV_TYPE_IDS, llama_cpp
from livemind.errors import LiveMindError
from livemind.types import ChatMessage, EngineSettings, SamplingSettings


@dataclass(frozen=True)
class StreamTiming:
    """One streamed answer: its text and when its pieces arrived (seconds from the request)."""

    text: str
    ttft_s: float
    total_s: float
    first_piece_s: float
    last_piece_s: float
    pieces: int
    stages: dict[str, float] = field(default_factory=dict)  # LiveMind's own account of its TTFT, stage by stage


class RawLlama:
    """llama-cpp-python's high-level API, configured like a LiveMind expert."""

    def __init__(self, path: Path, engine: EngineSettings, chat_format: str | None) -> None:
        threads = engine.n_threads or available_cores()
        self._llm = llama_cpp.Llama(
            model_path=str(path), n_ctx=engine.n_ctx, n_threads=threads, n_threads_batch=threads,
            n_batch=engine.n_batch, n_ubatch=engine.n_ubatch, flash_attn=engine.flash_attn,
            type_k=KV_TYPE_IDS[engine.kv_type], type_v=KV_TYPE_IDS[engine.kv_type], chat_format=chat_format,
            verbose=False,
        )

    def count_tokens(self, text: str) -> int:
        """Tokens of a generated text (the same tokenizer counts both sides)."""
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else 0

    def chat(self, messages: Sequence[ChatMessage], sampling: SamplingSettings) -> StreamTiming:
        """Stream one chat completion and time its pieces."""
        start = time.perf_counter()
        first = last = None
        pieces: list[str] = []
        stream = self._llm.create_chat_completion(
            messages=[{"role": m.role, "content": m.content} for m in messages],  # type: ignore[misc]
            temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k,
            repeat_penalty=sampling.repeat_penalty, max_tokens=sampling.max_tokens, seed=sampling.seed, stream=True)
        for chunk in stream:
            piece = str(chunk["choices"][0].get("delta", {}).get("content") or "")  # type: ignore[index, union-attr]
            if piece:
                last = time.perf_counter() - start
                first = first if first is not None else last
                pieces.append(piece)
        end = time.perf_counter() - start
        return StreamTiming(text="".join(pieces).strip(), ttft_s=first if first is not None else end, total_s=end,
                            first_piece_s=first or end, last_piece_s=last or end, pieces=len(pieces))

    def forget(self) -> None:
        """Drop the cached prompt, so the next call reads its prompt from the start."""
        self._llm.reset()

    def close(self) -> None:
        """Free the model."""
        self._llm.close()


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class ServerCommand:
    """How to start a server and where it says it is ready."""

    name: str
    argv: tuple[str, ...]
    health_path: str
    env: Mapping[str, str]


def llama_cpp_server_command(path: Path, engine: EngineSettings, chat_format: str | None, port: int, *,
                             matched: bool = True) -> ServerCommand:
    """`python -m llama_cpp.server` serving one model.

    matched: LiveMind's engine settings (threads, batch, flash attention, KV type) and `logits_all`
    off, so the peer does the same work per token (its default keeps every prompt position's
    logits: about a quarter more prefill work on SmolLM2 and a vocabulary-sized array per
    position). Otherwise the server's own defaults, what a user who just starts it gets.
    """
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", "127.0.0.1", "--port", str(port)]
    if matched:
        threads = str(engine.n_threads or available_cores())
        argv += ["--n_ctx", str(engine.n_ctx), "--n_threads", threads, "--n_threads_batch", threads,
                 "--n_batch", str(engine.n_batch), "--n_ubatch", str(engine.n_ubatch),
                 "--flash_attn", str(engine.flash_attn), "--type_k", str(KV_TYPE_IDS[engine.kv_type]),
                 "--type_v", str(KV_TYPE_IDS[engine.kv_type]), "--logits_all", "False"]
    argv += ["--verbose", "False"]
    if chat_format:
        argv += ["--chat_format", chat_format]
    return ServerCommand("llama_cpp.server" if matched else "llama_cpp.server (defaults)", tuple(argv), "/v1/models",
                         dict(os.environ))


def llama_server_command(binary: Path, path: Path, engine: EngineSettings, port: int, *,
                         matched: bool = True) -> ServerCommand:
    """llama.cpp's own `llama-server` (built from the engine wheel's source by `native.llama_server`).

    matched: LiveMind's context, threads, batch, flash attention and KV type, and one slot (the
    bench sends one request at a time). Otherwise only the model, what a user who just starts it gets.
    """
    argv = [str(binary), "--model", str(path), "--host", "127.0.0.1", "--port", str(port)]
    if matched:
        threads = str(engine.n_threads or available_cores())
        argv += ["--ctx-size", str(engine.n_ctx), "--threads", threads, "--threads-batch", threads,
                 "--batch-size", str(engine.n_batch), "--ubatch-size", str(engine.n_ubatch),
                 "--flash-attn", "on" if engine.flash_attn else "off", "--cache-type-k", engine.kv_type,
                 "--cache-type-v", engine.kv_type, "--parallel", "1"]
    return ServerCommand("llama-server" if matched else "llama-server (defaults)", tuple(argv), "/health",
                         dict(os.environ))


def livemind_server_command(home: Path, port: int, config_path: Path | None) -> ServerCommand:
    """`livemind serve` on a port, with the given home and configuration."""
    argv = [sys.executable, "-m", "livemind.cli.main", "--home", str(home)]
    if config_path is not None:
        argv += ["--config", str(config_path)]
    argv += ["serve", "--port", str(port)]
    return ServerCommand("livemind serve", tuple(argv), "/health", dict(os.environ))


@contextmanager
def running_server(command: ServerCommand, port: int, *, timeout_s: float, log_path: Path) -> Iterator[str]:
    """Start the server, wait until its health path answers 200, yield its base URL, stop it."""
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(list(command.argv), stdout=log, stderr=subprocess.STDOUT, env=dict(command.env),
                                   start_new_session=True)
        try:
            deadline = time.monotonic() + timeout_s
            with httpx.Client(timeout=2.0) as client:
                while True:
                    if process.poll() is not None:
                        raise LiveMindError(f"{command.name} exited with status {process.returncode} before it was ready",
                                            hint=f"see {log_path}")
                    try:
                        if client.get(base + command.health_path).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise LiveMindError(f"{command.name} was not ready after {timeout_s:.0f} s", hint=f"see {log_path}")
                    time.sleep(0.2)  # polling a child process's port: there is nothing to wait on
            yield base
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=15)


def stream_chat(base: str, body: dict[str, object], *, timeout_s: float = 300.0) -> StreamTiming:
    """POST /v1/chat/completions with stream=true and time the first content chunk."""
    start = time.perf_counter()
    first = last = None
    pieces: list[str] = []
    stages: dict[str, float] = {}
    with httpx.Client(timeout=timeout_s) as client, \
            client.stream("POST", base + "/v1/chat/completions", json={**body, "stream": True}) as response:
        if response.status_code != 200:
            raise LiveMindError(f"{base} answered {response.status_code}: {response.read()[:300]!r}")
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            stages = (chunk.get("livemind") or {}).get("stages") or stages
            choices = chunk.get("choices") or [{}]
            piece = (choices[0].get("delta") or {}).get("content") or ""
            if piece:
                last = time.perf_counter() - start
                first = first if first is not None else last
                pieces.append(piece)
    end = time.perf_counter() - start
    return StreamTiming(text="".join(pieces).strip(), ttft_s=first if first is not None else end, total_s=end,
                        first_piece_s=first or end, last_piece_s=last or end, pieces=len(pieces), stages=stages)
