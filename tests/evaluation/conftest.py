"""A scripted LiveMind for the eval: fake models that 'solve' the arithmetic, with controllable mistakes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from livemind.config import parse_config
from livemind.council.prompts import REVISION_MARKER, SHARED_END, SYNTHESIS_MARKER
from livemind.engine.backends.base import LoadTarget
from livemind.engine.catalog import ModelCatalog
from livemind.orchestrator import LiveMind
from livemind.types import GenerationRequest
from tests.support.fakes import Confidence, ScriptedLoader
from tests.support.minds import open_mind

EXPERTS = ("alpha", "beta", "gamma")
_EXPRESSION = re.compile(r"What is the result of ([0-9+*\-]+)\?")


@dataclass(frozen=True)
class Turn:
    """What a scripted model was asked, read back from its request."""

    kind: str  # "first", "revision", "synthesis" or "warm-up"
    expert: str
    key: int | None
    temperature: float
    seed: int | None
    round: int
    layout: str = "private"  # "shared" when the prompt carries the shared transcript's end mark


def read_turn(request: GenerationRequest) -> Turn:
    """Classify a request the way the eval's prompts are built, in either debate layout.

    Private: the persona is the system message and earlier answers are assistant turns. Shared: the
    persona heads the private text after SHARED_END, and each earlier round is an "Answers, round" block.
    """
    text = "\n".join(m.content for m in request.messages)
    last = request.messages[-1].content
    found = _EXPRESSION.search(text)
    key = eval(found.group(1)) if found else None  # the fake model's own arithmetic, independent of tasks.py
    is_shared = SHARED_END in last
    persona = (last.rsplit(SHARED_END, 1)[1] if is_shared
               else request.messages[0].content if request.messages[0].role == "system" else "")
    expert = persona.split("\n", 1)[0].removeprefix("You are ").rstrip(".")
    if found is None:
        kind = "warm-up"
    elif SYNTHESIS_MARKER in last:
        kind = "synthesis"
    elif REVISION_MARKER in last:  # opens a private revision turn; in the shared layout's private text
        kind = "revision"
    else:
        kind = "first"
    rounds = last.count("Answers, round ") if is_shared else sum(1 for m in request.messages if m.role == "assistant")
    return Turn(kind, expert, key, request.sampling.temperature, request.sampling.seed, rounds,
                "shared" if is_shared else "private")


Answerer = Callable[[Turn], int | None]
"""Decides a scripted model's answer for one turn (None: reply without an answer line)."""


def always_right(turn: Turn) -> int | None:
    return turn.key


@dataclass
class ScriptedCouncil:
    """A LiveMind over scripted models, and every turn they were asked."""

    mind: LiveMind
    turns: list[Turn] = field(default_factory=list)


@pytest.fixture
def scripted_council(tmp_path: Path) -> Iterator[Callable[..., ScriptedCouncil]]:
    """Build a LiveMind whose models answer by `answerer`, with a length that varies by seed."""
    made: list[LiveMind] = []

    def build(answerer: Answerer = always_right, confidence: Confidence | None = None,
              temperatures: dict[str, float] | None = None) -> ScriptedCouncil:
        turns: list[Turn] = []

        def script(target: LoadTarget, request: GenerationRequest) -> str:
            turn = read_turn(request)
            turns.append(turn)
            if turn.kind == "warm-up":
                return "Hi"
            seed = turn.seed or 0
            # Words unique to the seed keep the experts' replies apart, so debates run their rounds.
            padding = " ".join(f"s{seed % 9973}w{i}" for i in range(4 + seed % 23))
            value = answerer(turn)
            return f"Working {padding}." if value is None else f"Working {padding}.\nAnswer: {value}"

        doc = {
            "experts": [{"name": n, "model": "smollm2-135m", "persona": f"You are {n}.", "description": f"{n} topics",
                         "examples": [f"a question about {n}"],
                         **({"sampling": {"temperature": temperatures[n]}} if n in (temperatures or {}) else {})}
                        for n in EXPERTS],
            "router": {"fallback": "alpha", "top_k": 3, "threshold": 0.0},
            "debate": {"synthesizer": "alpha", "max_rounds": 2, "agreement_threshold": 0.99},
        }
        models_dir = tmp_path / "models"
        models_dir.mkdir(exist_ok=True)
        (models_dir / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"GGUF")
        config = parse_config(doc, ModelCatalog(tmp_path), check_files=False)
        mind = open_mind(tmp_path, config, ScriptedLoader(script, confidence=confidence))
        made.append(mind)
        return ScriptedCouncil(mind=mind, turns=turns)

    yield build
    for mind in made:
        mind.close()
