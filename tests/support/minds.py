"""A LiveMind over scripted backends and a hashing embedder: the graph, the API and the adapters run for real,
the models are scripts (tests.fakes). Shared by tests; never import helpers from another test module."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from livemind.config import LiveMindConfig, parse_config
from livemind.engine.catalog import ModelCatalog
from livemind.orchestrator import LiveMind
from livemind.types import GenerationRequest
from tests.fakes import HashEmbedder, Script, ScriptedLoader

EXPERTS = ("alpha", "beta", "gamma")
MODEL_FILES = ("SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf")


def scripted_config(home: Path, experts: Sequence[str] = EXPERTS, **debate: object) -> LiveMindConfig:
    """Experts named `experts` on the tiny catalog model; `[debate]` settings from keywords."""
    doc = {
        "experts": [{"name": n, "model": "smollm2-135m", "persona": f"You are {n}.", "description": f"{n} topics",
                     "examples": [f"a question about {n}"]} for n in experts],
        "router": {"fallback": experts[0], "top_k": 3},
        "debate": {"synthesizer": experts[0], "max_rounds": 2, "agreement_threshold": 0.95, **debate},
    }
    return parse_config(doc, ModelCatalog(home), check_files=False)


def scripted_mind(home: Path, script: Script, **debate: object) -> LiveMind:
    """A LiveMind whose experts answer by `script`; the caller closes it."""
    models = home / "models"
    models.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        (models / name).write_bytes(b"GGUF")
    return LiveMind(scripted_config(home, **debate), home=home, loader=ScriptedLoader(script), embedder=HashEmbedder())


def speaker(request: GenerationRequest) -> str:
    """Which expert a scripted request is for (its persona names it)."""
    return request.messages[0].content.removeprefix("You are ").rstrip(".")
