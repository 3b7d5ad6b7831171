"""A LiveMind over scripted backends and a hashing embedder: the graph, the API and the adapters run for real,
the models are scripts (tests.support.fakes). The one place tests build a fake LiveMind; no test imports helpers
from another test module.

    open_mind(home, config, loader)   the LiveMind over any loader and config (every builder ends here)
    scripted_config(home, ...)        alpha, beta, gamma on the tiny catalog model; `[debate]` from keywords
    open_scripted(home, loader)       scripted_config's LiveMind over `loader`, its model files in place
    scripted(home, script)            (LiveMind, its ScriptedLoader): three experts, alpha synthesises
    scripted_mind(home, script)       the LiveMind alone
    recording_mind(home, prompts)     experts that keep disagreeing; every request lands in `prompts`
    speaker / answer_round / is_synthesis / transcript_speaker   what a scripted request is
    stubborn / opinionated / numeric_answers(answers)            scripts
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from livemind.config import LiveMindConfig, parse_config
from livemind.council.prompts import SHARED_END, SYNTHESIS_MARKER
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


def open_mind(home: Path, config: LiveMindConfig, loader: ScriptedLoader, **options: Any) -> LiveMind:
    """A LiveMind over `loader` and the hash embedder; `options` go to LiveMind (ram_budget_bytes, ...)."""
    return LiveMind(config, home=home, loader=loader, embedder=HashEmbedder(), **options)


def open_scripted(home: Path, loader: ScriptedLoader, *, budget: int | None = None, **config: object) -> LiveMind:
    """scripted_config's LiveMind over `loader`, with placeholder files for the catalog models it names."""
    folder = home / "models"
    folder.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        (folder / name).write_bytes(b"GGUF")
    return open_mind(home, scripted_config(home, **config), loader, ram_budget_bytes=budget)


def scripted(home: Path, script: Script, *, budget: int | None = None, sizes: dict[str, int] | None = None,
             **config: object) -> tuple[LiveMind, ScriptedLoader]:
    """A LiveMind whose experts answer by `script`, and its loader; the caller closes the LiveMind."""
    loader = ScriptedLoader(script, sizes=sizes)
    return open_scripted(home, loader, budget=budget, **config), loader


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


def opinionated(target: LoadTarget, request: GenerationRequest) -> str:
    """Each expert keeps its own long-ish answer; the synthesiser merges."""
    if is_synthesis(request):
        return "synthesised answer combining everyone"
    who = speaker(request)
    return " ".join([f"{who} believes claim {answer_round(request)} about {who} things"] * 6)


def transcript_speaker(request: GenerationRequest) -> str:
    """The expert a request is for: its persona heads the private text (shared layout) or the system message."""
    last = request.messages[-1].content
    private = last.rsplit(SHARED_END, 1)[1] if SHARED_END in last else request.messages[0].content
    return next(n for n in EXPERTS if f"You are {n}." in private)


def recording_mind(home: Path, prompts: list[GenerationRequest], **debate: object) -> LiveMind:
    """A LiveMind over scripted experts that keep disagreeing (in either transcript layout); every request lands in
    `prompts`."""
    def script(target: LoadTarget, request: GenerationRequest) -> str:
        prompts.append(request)
        last = request.messages[-1].content
        if SYNTHESIS_MARKER in last:
            return "synthesised answer"
        who = transcript_speaker(request)
        return f"{who} believes {who}-specific claim number {last.count('Answers, round ')} about {who} things"

    return open_scripted(home, ScriptedLoader(script), **debate)
