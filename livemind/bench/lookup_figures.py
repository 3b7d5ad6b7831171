"""Prompt-lookup drafting on debate revisions: decode speed with and without guesses, and whether the text moved.

A revision repeats much of the expert's first answer, which sits in its own prompt, so the
guesses are mostly right there. Per question, three personas answer (greedy), then each revises
after reading the others' answers. Each revision is decoded alone twice, plain and with the
shipped guessing (exact: at most 3 rows a step), in an order that alternates between repeats;
the speedup is the plain decode time per token ÷ the drafted one, per pair. The three
revisions are then decoded as one batch, plain and with guessing inside the batch
(`lookup_exact = false`, 4 guesses), whose text may differ at near-ties: that figure is
reported with how many texts stayed equal.
"""

from __future__ import annotations

from typing import Any

from livemind.bench.prompts import PERSONAS
from livemind.bench.stats import ratio, summarize
from livemind.bench.workbench import Workbench
from livemind.council.prompts import first_answer_messages, label_for, revision_messages
from livemind.engine.backends.llama_batch import LlamaBatchBackend
from livemind.engine.backends.llama_loader import LlamaBatchLoader
from livemind.types import Completion, GenerationRequest, Position, SamplingSettings

QUESTIONS = ("What is 12 + 7 * 3 - 8 * 2 + 5 * 4?", "Write a Python function that merges two sorted lists.",
             "What is the probability of three heads in a row?")
FAST_GUESSES = 4


def _per_token(c: Completion) -> float:
    return (c.total_s - c.ttft_s) / max(1, c.completion_tokens - 1)


def _revisions(backend: LlamaBatchBackend, bench: Workbench, question: str,
               sampling: SamplingSettings) -> list[GenerationRequest]:
    specs = [bench.spec(name) for name in PERSONAS]
    backend.forget()
    backend.lookup_draft = 0
    first = backend.generate_many([GenerationRequest(messages=tuple(first_answer_messages(s, question)), sampling=sampling)
                                   for s in specs])
    positions = [Position(expert=s.name, label=label_for(i), round=0, text=c.text, tokens=c.completion_tokens,
                          prompt_tokens=c.prompt_tokens, total_s=c.total_s)
                 for i, (s, c) in enumerate(zip(specs, first, strict=True))]
    return [GenerationRequest(messages=tuple(revision_messages(s, question, [positions[i]],
                                                               [[p for p in positions if p.expert != s.name]])),
                              sampling=sampling) for i, s in enumerate(specs)]


def _decode(backend: LlamaBatchBackend, requests: list[GenerationRequest], guesses: int, *, exact: bool) -> list[Completion]:
    backend.forget()
    backend.lookup_draft, backend.lookup_exact = guesses, exact
    return backend.generate_many(requests)


def revision_lookup(bench: Workbench) -> dict[str, Any]:
    """Speedup of guessed tokens on revisions: alone (exact, the shipped setting) and batched (fast)."""
    spec = bench.spec(PERSONAS[0])
    quick = bench.options.quick
    sampling = SamplingSettings(temperature=0.0, max_tokens=48 if quick else max(bench.options.max_tokens, 160))
    backend = LlamaBatchLoader().load(bench.target(spec))
    shipped = backend.lookup_draft
    if not shipped:
        backend.close()
        return {"ratio": None,
                "reason": f"{spec.model} does not guess tokens (sliding-window or recurrent cache, or lookup_draft 0)"}
    alone: list[dict[str, Any]] = []
    batched: list[dict[str, Any]] = []
    try:
        for q_index, question in enumerate(QUESTIONS[:1] if quick else QUESTIONS):
            revisions = _revisions(backend, bench, question, sampling)
            for run in range(1):  # pairs alternate their order across personas
                for i, request in enumerate(revisions):
                    sides = ("plain", "lookup") if (run + i) % 2 == 0 else ("lookup", "plain")
                    got = {side: _decode(backend, [request], shipped if side == "lookup" else 0, exact=True)[0] for side in sides}
                    plain, guessed = got["plain"], got["lookup"]
                    alone.append({"question": q_index, "persona": i, "run": run, "tokens": plain.completion_tokens,
                                  "plain_s_per_token": round(_per_token(plain), 5),
                                  "lookup_s_per_token": round(_per_token(guessed), 5),
                                  "drafted": guessed.draft_tokens, "accepted": guessed.accepted_draft_tokens,
                                  "same_text": plain.text == guessed.text})
                sides = ("plain", "lookup") if run % 2 == 0 else ("lookup", "plain")
                got_many = {side: _decode(backend, revisions, FAST_GUESSES if side == "lookup" else 0, exact=False)
                            for side in sides}
                batched.append({"question": q_index, "run": run,
                                "plain_s_per_token": round(max(_per_token(c) for c in got_many["plain"]), 5),
                                "lookup_s_per_token": round(max(_per_token(c) for c in got_many["lookup"]), 5),
                                "drafted": sum(c.draft_tokens for c in got_many["lookup"]),
                                "accepted": sum(c.accepted_draft_tokens for c in got_many["lookup"]),
                                "same_texts": sum(a.text == b.text
                                                  for a, b in zip(got_many["plain"], got_many["lookup"], strict=True))})
    finally:
        backend.close()
    speedups = summarize([r["plain_s_per_token"] / r["lookup_s_per_token"] for r in alone if r["lookup_s_per_token"] > 0])
    fast = summarize([r["plain_s_per_token"] / r["lookup_s_per_token"] for r in batched if r["lookup_s_per_token"] > 0])
    return {
        "model": spec.model, "guesses_per_step": shipped, "ratio": round(speedups.median, 3),
        "ratio_per_pair": speedups.as_dict(3),
        "acceptance": ratio(sum(r["accepted"] for r in alone), sum(r["drafted"] for r in alone)),
        "same_text": sum(r["same_text"] for r in alone), "answers": len(alone),
        "batched_fast": {"guesses_per_step": FAST_GUESSES, "ratio": round(fast.median, 3), "ratio_per_pair": fast.as_dict(3),
                         "acceptance": ratio(sum(r["accepted"] for r in batched), sum(r["drafted"] for r in batched)),
                         "same_texts": sum(r["same_texts"] for r in batched), "answers": 3 * len(batched)},
        "rows": alone, "batched_rows": batched,
    }
