"""Council-level figures: warm routing latency, and a real debate's prompt tokens with and without KV reuse."""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from livemind.bench.prompts import PERSONAS, PROMPTS, ROUTING_QUESTIONS
from livemind.bench.stats import ratio, summarize
from livemind.bench.workbench import Workbench
from livemind.council.embeddings import Embedder, SentenceEmbedder
from livemind.council.router import Router
from livemind.engine.backends.llama_batch import LlamaBatchBackend
from livemind.orchestrator import LiveMind
from livemind.types import DebateResult


def embedder_for(bench: Workbench) -> SentenceEmbedder:
    """The configured sentence-transformers model (loaded on first use)."""
    entry = bench.catalog.entry(bench.config.router.embedding_model)
    return SentenceEmbedder(bench.catalog.path_of(entry), backend=bench.config.router.embedding_backend)


def routing(bench: Workbench, embedder: Embedder) -> dict[str, Any]:
    """Milliseconds to score every expert for a question, once the router is warm."""
    router = Router(bench.config.experts, embedder, bench.config.router, cache_dir=bench.scratch / "router-cache")
    start = time.perf_counter()
    router.warm()
    warm_s = time.perf_counter() - start
    count = 20 if bench.options.quick else 100
    times = []
    for i in range(count):
        question = ROUTING_QUESTIONS[i % len(ROUTING_QUESTIONS)]
        t0 = time.perf_counter()
        router.route(question)
        times.append((time.perf_counter() - t0) * 1000)
    ordered = sorted(times)
    return {"p50_ms": summarize(times).median, "p95_ms": ordered[int(0.95 * (len(ordered) - 1))],
            "ms": summarize(times).as_dict(), "queries": count, "warm_up_s": round(warm_s, 2)}


def _mind(bench: Workbench, embedder: Embedder, name: str) -> LiveMind:
    home = bench.scratch / name
    home.mkdir(parents=True, exist_ok=True)
    models = home / "models"
    if not models.exists():
        models.symlink_to(bench.catalog.models_dir, target_is_directory=True)
    debate = bench.config.debate.model_copy(update={"agreement_threshold": 1.0})  # run every round
    return LiveMind(bench.config.model_copy(update={"debate": debate}), home=home, embedder=embedder)


def _per_round(result: DebateResult) -> list[int]:
    return [sum(p.prompt_tokens for p in record.positions) for record in result.history]


def debate_tokens(bench: Workbench, embedder: Embedder) -> dict[str, Any]:
    """A real debate through the graph, same seed, four ways: each prompt layout with its KV kept and re-read.

    `private`: each expert's own conversation (the shipped layout); `shared`: one transcript every
    expert's prompt starts with ([debate] transcript = "shared"), read once and copied to the others.
    Each ratio divides by the same layout re-read, so it measures the engine, not the wording.
    """
    rounds = 1 if bench.options.quick else 2
    out: dict[str, Any] = {}
    for transcript in ("private", "shared"):
        for reuse in (True, False):
            name = f"{transcript}_{'with' if reuse else 'without'}_reuse"
            mind = _mind(bench, embedder, name)
            try:
                target = mind.runner.target_for(mind.config.expert(PERSONAS[0]))
                with mind.pool.lease(target) as backend:
                    if isinstance(backend, LlamaBatchBackend):
                        backend.kv.reuse_kv = reuse
                start = time.perf_counter()
                result = mind.debate(PROMPTS[0], experts=list(PERSONAS), rounds=rounds, mode="parallel", seed=7,
                                     max_tokens=bench.options.max_tokens, transcript=transcript, strategy="debate")
                wall = time.perf_counter() - start
            finally:
                mind.close()
            out[name] = {"prompt_tokens_per_round": _per_round(result), "wall_s": round(wall, 2), "rounds": result.rounds,
                         "answers": [[p.text for p in record.positions] for record in result.history]}
    for transcript in ("private", "shared"):
        kept = out[f"{transcript}_with_reuse"]["prompt_tokens_per_round"]
        reread = out[f"{transcript}_without_reuse"]["prompt_tokens_per_round"]
        per_round = [ratio(a, b) for a, b in zip(kept, reread, strict=False)]
        out[f"ratio_per_round_{transcript}"] = per_round
        out[f"round2_ratio_{transcript}"] = per_round[1] if len(per_round) > 1 else None
        out[f"same_answers_{transcript}"] = (out[f"{transcript}_with_reuse"]["answers"]
                                             == out[f"{transcript}_without_reuse"]["answers"])
    out["round2_ratio"] = out["round2_ratio_shared"]
    return out


FOUNDING_EXPERTS = ("ethicist", "futurist", "generalist")
"""The founding debate's council: the experts the router convenes for the founding question."""


class Timed(NamedTuple):
    """One timed side of the comparison: its wall seconds, the tokens it processed, its mean answer length."""

    seconds: float
    processed: int  # the debate: prompt tokens read + tokens generated; the single answer: tokens generated
    answer_tokens: int = 0


def _timed_debate(mind: LiveMind, experts: list[str], rounds: int, seed: int, max_tokens: int) -> Timed:
    start = time.perf_counter()
    result = mind.debate(PROMPTS[0], experts=experts, rounds=rounds, mode="parallel", seed=seed, max_tokens=max_tokens,
                         strategy="debate", selective=False)
    seconds = time.perf_counter() - start
    answers = [p.tokens for record in result.history for p in record.positions]
    return Timed(seconds, result.prompt_tokens + result.tokens, max(1, round(sum(answers) / max(1, len(answers)))))


def _timed_answer(mind: LiveMind, expert: str, seed: int, length: int) -> Timed:
    start = time.perf_counter()
    answer = mind.ask(PROMPTS[0], expert=expert, max_tokens=length, seed=seed)
    return Timed(time.perf_counter() - start, answer.tokens)


def debate_vs_single(bench: Workbench, embedder: Embedder) -> dict[str, Any]:
    """Wall time of the founding debate (3 experts, 2 rounds: answers and one revision, then synthesis) ÷ one answer.

    The single answer is the first expert's, asked for as many tokens as the debate's answers averaged,
    so the ratio prices the council's extra work, not a longer text. Runs alternate which goes first.
    `work_ratio_per_run` is its physical ceiling: the tokens the debate processed (prompt tokens read,
    plus tokens generated) ÷ the tokens the single answer generated. A prompt token costs no more than a
    generated one, so a debate cannot take longer than that many single-answer tokens; with short answers
    (the quick bench's 24 tokens) re-reading the others' answers dominates and the ratio climbs toward it.
    """
    rounds = 1  # revision rounds after the first answers: two rounds in all
    runs = 1 if bench.options.quick else 3
    experts = [name for name in FOUNDING_EXPERTS if name in {e.name for e in bench.config.experts}] or list(PERSONAS)
    mind = _mind(bench, embedder, "debate-vs-single")
    debates: list[Timed] = []
    singles: list[Timed] = []
    try:
        mind.ask("Hi", expert=experts[0], max_tokens=2, seed=1)  # the model's load is in neither side
        for run in range(runs):
            seed = 7 + run
            if run % 2 == 0:
                debates.append(_timed_debate(mind, experts, rounds, seed, bench.options.max_tokens))
                singles.append(_timed_answer(mind, experts[0], seed, debates[-1].answer_tokens))
            else:  # the single answer first, as long as the previous run's answers
                singles.append(_timed_answer(mind, experts[0], seed, debates[-1].answer_tokens))
                debates.append(_timed_debate(mind, experts, rounds, seed, bench.options.max_tokens))
    finally:
        mind.close()
    spread = summarize([d.seconds / s.seconds for d, s in zip(debates, singles, strict=True) if s.seconds > 0])
    return {"experts": experts, "rounds": rounds + 1, "debate_s": summarize([d.seconds for d in debates]).as_dict(),
            "single_s": summarize([s.seconds for s in singles]).as_dict(),
            "answer_tokens": [d.answer_tokens for d in debates],
            "debate_tokens_processed": [d.processed for d in debates], "single_tokens": [s.processed for s in singles],
            "work_ratio_per_run": [round(d.processed / max(1, s.processed), 2) for d, s in zip(debates, singles, strict=True)],
            "ratio_per_run": spread.as_dict(3), "ratio": round(spread.median, 4)}
