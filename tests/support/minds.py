"""A LiveMind over scripted backends and a hashing embedder: the graph, the API and the adapters run for real,
the models are scripts (tests.support.fakes). Shared by tests; no test imports helpers from another test module.

    scripted(home, script)        (LiveMind, its ScriptedLoader): three experts, alpha synthesises
    scripted_mind(home, script)   the LiveMind alone
    speaker / answer_round / is_synthesis   what a scripted request is
    stubborn                      a script whose experts never agree
    numeric_answers(answers)      a script in which each expert answers its number, `Answer: N`
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from livemind.config import LiveMindConfig, parse_config
from livemind.council.prompts import SYNTHESIS_MARKER
from livemind.engine.backends.base import LoadTarget
from livemind.engine.catalog import ModelCatalog
from livemind.orchestrator import LiveMind
from livemind.types import GenerationRequest
from tests.support.fakes import HashEmbedder, Script, ScriptedLoader

EXPERTS = ("alpha", "beta", "gamma")
MODEL_FILES = ("SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf")


def scripted_config(home: Path, experts: Sequence[str] = EXPERTS, *, models: dict[str, str] | None = None,
                    **debate: object) -> LiveMindConfig:
    """Experts named `experts` on the tiny catalog model (or `models[name]`); `[debate]` settings from keywords."""
    models = models or {}
    doc = {
        "experts": [{"name": n, "model": models.get(n, "smollm2-135m"), "persona": f"You are {n}.",
                     "description": f"{n} topics", "examples": [f"a question about {n}"]} for n in experts],
        "router": {"fallback": experts[0], "top_k": 3},
        "debate": {"synthesizer": experts[0], "max_rounds": 2, "agreement_threshold": 0.95, **debate},
    }
    return parse_config(doc, ModelCatalog(home), check_files=False)


def scripted(home: Path, script: Script, *, budget: int | None = None, sizes: dict[str, int] | None = None,
             **config: object) -> tuple[LiveMind, ScriptedLoader]:
    """A LiveMind whose experts answer by `script`, and its loader; the caller closes the LiveMind."""
    loader = ScriptedLoader(script, sizes=sizes)
    folder = home / "models"
    folder.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        (folder / name).write_bytes(b"GGUF")
    mind = LiveMind(scripted_config(home, **config), home=home, loader=loader,  # type: ignore[arg-type]
                    embedder=HashEmbedder(), ram_budget_bytes=budget)
    return mind, loader


def scripted_mind(home: Path, script: Script, **config: object) -> LiveMind:
    """The LiveMind alone (see `scripted`)."""
    return scripted(home, script, **config)[0]  # type: ignore[arg-type]


def speaker(request: GenerationRequest) -> str:
    """Which expert a scripted request is for (its persona names it)."""
    return request.messages[0].content.removeprefix("You are ").rstrip(".")


def answer_round(request: GenerationRequest) -> int:
    """Which round a request answers: how many answers of its own it has given before."""
    return sum(1 for m in request.messages if m.role == "assistant")


def is_synthesis(request: GenerationRequest) -> bool:
    """Whether a request is the synthesiser's."""
    return SYNTHESIS_MARKER in request.messages[-1].content


def stubborn(target: LoadTarget, request: GenerationRequest) -> str:
    """Each expert keeps a different answer that changes a little every round."""
    if is_synthesis(request):
        return "synthesised answer combining everyone"
    who = speaker(request)
    return f"{who} believes {who}-specific claim number {answer_round(request)} about {who} things"


def numeric_answers(answers: dict[str, int]) -> Script:
    """Each expert works it out and answers `Answer: <its number>`; the synthesis answers 99."""
    def script(target: LoadTarget, request: GenerationRequest) -> str:
        if is_synthesis(request):
            return "After checking, the council agrees.\nAnswer: 99"
        return f"Working it out.\nAnswer: {answers[speaker(request)]}"
    return script
