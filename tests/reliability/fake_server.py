"""`livemind serve` over scripted backends: the real HTTP app and MCP, with tests.support.fakes as the engine.

    python -m tests.reliability.fake_server --home DIR --port N [--pace-ms 2] [--budget-mib 250]
                                            [--max-queue 8] [--drain-s 10] [--api-key KEY]

Everything above the Backend and Embedder seams is the product: `Service`, `create_app`, the
admission lanes, the job registry, the SIGTERM drain (`_Server`, private to
livemind.http.app and reused so that the signal handling under test is the product's),
the MCP server at /mcp, the session store and checkpoints under --home. Below the seams, `PacedLoader` hands out scripted
backends that take `--pace-ms` per word (the stand-in for decode time, so requests overlap and
queue the way real ones do) and weigh 100 MiB each in the RAM guard's eyes. Claims about the
server (admission, drain, bad input, logging) are tested against this process; claims about
models are tested against `livemind serve` itself.

Experts: alpha and beta share model smollm2-135m, gamma runs on gemma3-270m (fake files).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from livemind.config import LiveMindConfig, parse_config
from livemind.engine.backends.base import CancelSignal, LoadTarget, TokenCallback
from livemind.engine.catalog import ModelCatalog
from livemind.http.app import ServeOptions, Service, _Server, create_app
from livemind.orchestrator import LiveMind
from livemind.types import Completion, GenerationRequest
from tests.support.fakes import ScriptedBackend, ScriptedLoader
from tests.support.minds import open_mind

EXPERTS = (("alpha", "smollm2-135m"), ("beta", "smollm2-135m"), ("gamma", "gemma3-270m"))
FAKE_FILES = ("SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf")
MiB = 2**20


def fake_config(home: Path) -> LiveMindConfig:
    """Three experts on two models; the debate settings of the shipped configuration."""
    doc = {
        "experts": [{"name": name, "model": model, "persona": f"You are {name}.", "description": f"{name} topics",
                     "examples": [f"a question about {name}"]} for name, model in EXPERTS],
        "router": {"fallback": "alpha", "top_k": 2},
        "debate": {"synthesizer": "alpha", "max_rounds": 2, "agreement_threshold": 0.95},
    }
    return parse_config(doc, ModelCatalog(home), check_files=False)


def opinion(target: LoadTarget, request: GenerationRequest) -> str:
    """Each persona answers with its own words and the start of the question."""
    persona = request.messages[0].content.removeprefix("You are ").rstrip(".")
    return f"{persona} on {target.model} thinks about {request.messages[-1].content[:60]} and answers plainly"


class PacedBackend(ScriptedBackend):
    """A scripted backend whose words take `pace_s` each, checking cancel between them like the engine."""

    def __init__(self, target: LoadTarget, pace_s: float) -> None:
        super().__init__(target, opinion)
        self._pace_s = pace_s

    def generate(self, request: GenerationRequest, *, on_token: TokenCallback | None = None,
                 cancel: CancelSignal | None = None) -> Completion:
        def paced(piece: str) -> None:
            time.sleep(self._pace_s)  # simulated decode time: the fake's stand-in for compute, not a wait
            if on_token is not None:
                on_token(piece)

        return super().generate(request, on_token=paced, cancel=cancel)


class PacedLoader(ScriptedLoader):
    """Loads PacedBackends of 100 MiB each."""

    def __init__(self, pace_s: float) -> None:
        super().__init__(opinion)
        self._pace_s = pace_s

    def load(self, target: LoadTarget) -> PacedBackend:
        backend = PacedBackend(target, self._pace_s)
        self.loaded.append(backend)
        return backend


def open_fake_mind(home: Path, *, pace_s: float, budget_bytes: int | None) -> LiveMind:
    """A LiveMind over PacedLoader and HashEmbedder, with its sessions and checkpoints under home."""
    models = home / "models"
    models.mkdir(parents=True, exist_ok=True)
    for name in FAKE_FILES:
        if not (models / name).exists():
            (models / name).write_bytes(b"GGUF")
    return open_mind(home, fake_config(home), PacedLoader(pace_s), ram_budget_bytes=budget_bytes)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM, exactly as `livemind serve` does after it has opened its LiveMind."""
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.fake_server")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pace-ms", type=float, default=2.0)
    parser.add_argument("--budget-mib", type=int, default=250)
    parser.add_argument("--max-queue", type=int, default=8)
    parser.add_argument("--drain-s", type=float, default=10.0)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    mind = open_fake_mind(args.home, pace_s=args.pace_ms / 1000.0, budget_bytes=args.budget_mib * MiB)
    service = Service(mind, ServeOptions(max_queue=args.max_queue, drain_s=args.drain_s))
    app = create_app(service, host="127.0.0.1", api_key=args.api_key)
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, lifespan="on", access_log=False, log_level="info",
                            timeout_graceful_shutdown=int(args.drain_s) + 5)
    _Server(config, service).run()
    return 1 if service.phase == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
