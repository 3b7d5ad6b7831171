"""Capture real replies of the shipped Qwen models for the extractor's tests (tests/fixtures/replies.json).

Run: .venv/bin/python tools/capture_replies.py [--out tests/fixtures/replies.json]

For each model, greedy, on held-out (pilot) arithmetic questions:
- the eval's prompt through the mathematician persona (answer lines, usually mid-line);
- a bare "Work step by step." prompt (Qwen then writes `\\boxed{N}`);
- the eval's prompt cut at 48 tokens (cut off mid-working: must not parse).
Each record keeps the question's keyed answer and the finish reason; `expected` is left to a person
to fill in after reading the reply (what a careful reader would say the reply answered, or null).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from livemind.config import load_config
from livemind.council.prompts import first_answer_messages
from livemind.engine.backends.base import LoadTarget
from livemind.engine.backends.llama_loader import LlamaBatchLoader
from livemind.engine.catalog import ModelCatalog
from livemind.evaluation.tasks import generate_problems
from livemind.types import ChatMessage, EngineSettings, GenerationRequest, SamplingSettings


def main() -> None:
    """Generate and write the replies."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", default=str(Path.home() / ".cache" / "livemind"))
    parser.add_argument("--out", default="tests/fixtures/replies.json")
    args = parser.parse_args()
    catalog = ModelCatalog(Path(args.home))
    math = load_config(None, catalog).expert("mathematician")
    problems = generate_problems("arithmetic", 3, 0, split="pilot")
    records = []
    for name in ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"):
        resolved = catalog.resolve(name)
        backend = LlamaBatchLoader().load(LoadTarget(model=name, path=resolved.path,
                                                     engine=EngineSettings(n_ctx=2048, n_seq_max=3)))
        styles = {
            "eval prompt": (lambda p: tuple(first_answer_messages(math, p.prompt)), 300),
            "work step by step": (lambda p: (ChatMessage(role="user", content=f"{p.question} Work step by step."),), 300),
            "cut off": (lambda p: tuple(first_answer_messages(math, p.prompt)), 48),
        }
        for style, (messages, tokens) in styles.items():
            requests = [GenerationRequest(messages=messages(p), sampling=SamplingSettings(temperature=0.0,
                                                                                        max_tokens=tokens))
                        for p in problems]
            for problem, completion in zip(problems, backend.generate_many(requests), strict=True):
                records.append({"model": name, "style": style, "question": problem.question, "key": problem.answer,
                                "finish_reason": completion.finish_reason, "reply": completion.text, "expected": None})
                print(f"{name} {style}: {completion.completion_tokens} tokens, {completion.finish_reason}", flush=True)
        backend.close()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
