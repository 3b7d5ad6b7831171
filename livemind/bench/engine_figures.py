"""Engine-level figures: overhead against raw llama-cpp-python, batching, KV memory, defaults, baseline.

Every ratio compares two measurements taken in the same run, alternating their order, so the
noise of a shared machine hits both sides alike.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from livemind.bench.peers import RawLlama
from livemind.bench.prompts import LONG_PROMPT, PERSONAS, SINGLE_EXPERT, STORY_PROMPTS
from livemind.bench.stats import MiB, peak_rss, ratio, summarize
from livemind.bench.workbench import Workbench, concurrent_round, engine_label
from livemind.engine.backends.base import LoadTarget, available_cores
from livemind.engine.backends.llama_batch import LlamaBatchBackend
from livemind.engine.backends.llama_cpp import LlamaCppBackend
from livemind.engine.backends.llama_loader import LlamaBatchLoader
from livemind.engine.runner import ExpertRunner
from livemind.types import ChatMessage, Completion, ExpertSpec, GenerationRequest, SamplingSettings


def forget_kv(runner: ExpertRunner, targets: Sequence[LoadTarget]) -> None:
    """Drop kept conversations, so a repeated prompt is read again rather than found in the cache."""
    for target in targets:
        with runner.pool.lease(target) as backend:
            if isinstance(backend, LlamaBatchBackend | LlamaCppBackend):
                backend.forget()


def _greedy(max_tokens: int) -> SamplingSettings:
    return SamplingSettings.model_validate({"temperature": 0.0, "max_tokens": max_tokens})


def warm(runner: ExpertRunner, spec: ExpertSpec) -> None:
    """Load the expert's model with a two-token answer, so no measurement pays the load."""
    runner.generate(spec, [ChatMessage(role="user", content="Hi")], max_tokens=2, seed=1)


# -- LiveMind against raw llama-cpp-python ------------------------------------------------------

def overhead(bench: Workbench) -> dict[str, Any]:
    """One expert through LiveMind (runner → scheduler → pool → batch backend) against bare Llama."""
    spec = bench.spec(SINGLE_EXPERT)
    target = bench.target(spec)
    runner = bench.runner()
    raw = RawLlama(target.path, spec.engine, target.chat_format)  # type: ignore[arg-type]
    rows: list[dict[str, Any]] = []
    try:
        warm(runner, spec)
        raw.chat([ChatMessage(role="user", content="Hi")], spec.sampling.model_copy(update={"max_tokens": 2, "seed": 1}))
        for run in range(bench.options.runs):
            for i in range(len(bench.prompts)):
                messages = bench.messages(spec, i)
                sampling = spec.sampling.model_copy(update={"seed": bench.seed(i, spec.name),
                                                            "max_tokens": bench.options.max_tokens})
                sides = ("livemind", "raw") if run % 2 == 0 else ("raw", "livemind")
                measured: dict[str, dict[str, Any]] = {}
                for side in sides:
                    if side == "raw":
                        raw.forget()  # both sides read the whole prompt: no prefix cache on either
                        timing = raw.chat(messages, sampling)
                        text, ttft, first, last = timing.text, timing.ttft_s, timing.first_piece_s, timing.last_piece_s
                    else:
                        forget_kv(runner, [runner.target_for(spec)])
                        text, ttft, first, last = _livemind_stream(runner, spec, messages, sampling)
                    tokens = raw.count_tokens(text)
                    measured[side] = {"text": text, "tokens": tokens, "ttft_s": ttft,
                                      "tok_s": (tokens - 1) / (last - first) if tokens > 1 and last > first else 0.0}
                rows.append({"prompt": i, "run": run, **{f"{k}_{side}": v for side, m in measured.items()
                                                        for k, v in m.items() if k != "text"},
                             "identical": measured["raw"]["text"] == measured["livemind"]["text"]})
    finally:
        raw.close()
        runner.pool.unload_all()
    lm = summarize([r["tok_s_livemind"] for r in rows])
    rw = summarize([r["tok_s_raw"] for r in rows])
    return {
        "livemind_tok_s": lm.as_dict(), "raw_tok_s": rw.as_dict(),
        "livemind_ttft_s": summarize([r["ttft_s_livemind"] for r in rows]).as_dict(),
        "raw_ttft_s": summarize([r["ttft_s_raw"] for r in rows]).as_dict(),
        "identical_texts": sum(r["identical"] for r in rows), "pairs": len(rows),
        "ratio": ratio(lm.median, rw.median), "engine": engine_label(spec.engine), "rows": rows,
        # one ratio per pair (same prompt, same seed, back to back): the headline's spread
        "ratio_per_pair": summarize([r["tok_s_livemind"] / r["tok_s_raw"] for r in rows if r["tok_s_raw"] > 0]).as_dict(3),
    }


def _livemind_stream(runner: ExpertRunner, spec: ExpertSpec, messages: list[ChatMessage],
                     sampling: SamplingSettings) -> tuple[str, float, float, float]:
    times: list[float] = []
    start = time.perf_counter()
    completion = runner.generate(spec, messages, seed=sampling.seed, max_tokens=sampling.max_tokens,
                                 on_token=lambda _piece: times.append(time.perf_counter() - start))
    end = time.perf_counter() - start
    first = times[0] if times else end
    return completion.text, first, first, times[-1] if times else end


# -- consensus: batched against sequential ------------------------------------------------------

def consensus(bench: Workbench) -> dict[str, Any]:
    """Three personas of one model answer at once: one batch, against one sequence at a time."""
    batched_specs = [bench.spec(n) for n in PERSONAS]
    sequential_specs = [bench.spec(n, n_seq_max=1) for n in PERSONAS]
    batched, sequential = bench.runner(), bench.runner()
    rows = []
    try:
        warm(batched, batched_specs[0])
        warm(sequential, sequential_specs[0])
        targets = {"batched": [batched.target_for(batched_specs[0])], "sequential": [sequential.target_for(sequential_specs[0])]}
        for run in range(bench.options.runs):
            for i in range(len(bench.prompts)):
                order = ("batched", "sequential") if run % 2 == 0 else ("sequential", "batched")
                walls: dict[str, Any] = {}
                for side in order:
                    runner, specs = (batched, batched_specs) if side == "batched" else (sequential, sequential_specs)
                    forget_kv(runner, targets[side])
                    walls[side] = concurrent_round(runner, specs, bench, i, session=f"consensus-{side}-{run}-{i}")
                rows.append({
                    "prompt": i, "run": run, "batched_s": walls["batched"].wall_s, "sequential_s": walls["sequential"].wall_s,
                    "batched_tokens": walls["batched"].tokens, "sequential_tokens": walls["sequential"].tokens,
                    "identical": [a.text == b.text for a, b in zip(walls["batched"].completions,
                                                                   walls["sequential"].completions, strict=True)],
                })
        report = batched.scheduler.reports()
    finally:
        batched.pool.unload_all()
        sequential.pool.unload_all()
    b = summarize([r["batched_s"] for r in rows])
    s = summarize([r["sequential_s"] for r in rows])
    return {
        "batched_s": b.as_dict(), "sequential_s": s.as_dict(), "ratio": ratio(b.median, s.median),
        "ratio_per_pair": summarize([r["batched_s"] / r["sequential_s"] for r in rows if r["sequential_s"] > 0]).as_dict(3),
        "batched_tok_s": ratio(sum(r["batched_tokens"] for r in rows), sum(r["batched_s"] for r in rows)),
        "sequential_tok_s": ratio(sum(r["sequential_tokens"] for r in rows), sum(r["sequential_s"] for r in rows)),
        "identical_texts": sum(sum(r["identical"]) for r in rows),
        "answers": sum(len(r["identical"]) for r in rows),
        "widest_batch": max((lane.max_batch for lane in report), default=0), "rows": rows,
    }


# -- KV cache memory ----------------------------------------------------------------------------

def kv_memory(bench: Workbench) -> dict[str, Any]:
    """KV bytes for the same conversation with an f16 and a q8_0 cache (flash attention on for both)."""
    figures: dict[str, dict[str, float]] = {}
    request = GenerationRequest(messages=tuple(bench.messages(bench.spec(SINGLE_EXPERT), 0)),
                                sampling=_greedy(8))
    loader = LlamaBatchLoader()
    for kv in ("f16", "q8_0"):
        target = bench.target(bench.spec(SINGLE_EXPERT, kv_type=kv, flash_attn=True, n_seq_max=1))
        with peak_rss() as rss:
            backend = loader.load(target)
            try:
                backend.generate(request)
                state = backend.kv_state_bytes()
            finally:
                backend.close()
        figures[kv] = {"state_bytes": state, "allocated_bytes": loader.estimate(target).kv_cache,
                       "load_rss_growth_mib": round(rss.growth_bytes / MiB, 1)}
    return {**figures, "ratio": ratio(figures["q8_0"]["state_bytes"], figures["f16"]["state_bytes"]),
            "allocated_ratio": ratio(figures["q8_0"]["allocated_bytes"], figures["f16"]["allocated_bytes"])}


# -- engine defaults ----------------------------------------------------------------------------

@contextmanager
def _backend(bench: Workbench, **engine: object) -> Iterator[LlamaBatchBackend]:
    backend = LlamaBatchLoader().load(bench.target(bench.spec(SINGLE_EXPERT, **engine)))
    try:
        yield backend
    finally:
        backend.close()


def _speeds(backend: LlamaBatchBackend, bench: Workbench, repeats: int) -> dict[str, float]:
    """Median prefill tok/s (a long prompt) and decode tok/s (one sequence, greedy)."""
    request = GenerationRequest(messages=(ChatMessage(role="user", content=LONG_PROMPT),),
                                sampling=_greedy(bench.options.max_tokens))
    prefill, decode = [], []
    for _ in range(repeats):
        backend.forget()
        c = backend.generate(request)
        prefill.append(c.prompt_tokens / c.ttft_s if c.ttft_s > 0 else 0.0)
        decode.append(c.decode_tok_s)
    return {"prefill_tok_s": round(summarize(prefill).median, 1), "decode_tok_s": round(summarize(decode).median, 1)}


def _width(backend: LlamaBatchBackend, bench: Workbench, width: int) -> float:
    """Aggregate decode tok/s with `width` sequences in one batch (from the step where all decode)."""
    requests = [GenerationRequest(messages=(ChatMessage(role="user", content=STORY_PROMPTS[i]),),
                                  sampling=_greedy(bench.options.max_tokens)) for i in range(width)]
    backend.forget()
    stamps: list[float] = []
    done: list[Completion] = backend.generate_many(requests, on_token=lambda _i, _piece: stamps.append(time.perf_counter()))
    stamps.sort()
    if len(stamps) <= width:
        return 0.0
    return round((sum(c.completion_tokens for c in done) - width) / (stamps[-1] - stamps[width - 1]), 1)


def defaults(bench: Workbench) -> dict[str, Any]:
    """The figures behind each engine default: threads, batch width, flash attention, KV type, ubatch.

    Every variant (each changes one setting from the shipped engine: all cores, q8_0 with flash
    attention, ubatch 256) is loaded at once and measured in turn, repeat after repeat in a
    rotated order, so a slow moment of the machine lands on all of them alike. Each figure is
    the median of its repeats, with min and max.
    """
    quick = bench.options.quick
    repeats = 2 if quick else 5
    cores = available_cores()
    engine = bench.spec(SINGLE_EXPERT).engine
    shipped_label = f"{engine.kv_type} · flash-attn {'on' if engine.flash_attn else 'off'}"
    variants: dict[str, dict[str, object]] = {"shipped": {}}
    variants["f16 · flash-attn off"] = {"kv_type": "f16", "flash_attn": False}
    variants["f16 · flash-attn on"] = {"kv_type": "f16", "flash_attn": True}
    ubatches = [size for size in ((64, engine.n_ubatch) if quick else (64, 128, 256, 512))
                if not (size == engine.n_ubatch and size == engine.n_batch)]
    for size in ubatches:
        variants[f"ubatch {size}"] = {"n_batch": size, "n_ubatch": size}
    thread_counts = [t for t in sorted({1, cores}) if t != cores]
    samples: dict[str, dict[str, list[float]]] = {}
    with ExitStack() as stack:
        backends = {name: stack.enter_context(_backend(bench, **engine_update)) for name, engine_update in variants.items()}
        rows = [*variants, *(f"threads {t}" for t in thread_counts)]
        for repeat in range(repeats):
            shift = repeat % len(rows)
            for row in rows[shift:] + rows[:shift]:
                backend = backends["shipped" if row.startswith("threads") else row]
                if row.startswith("threads"):
                    backend.set_threads(int(row.split()[1]))
                speeds = _speeds(backend, bench, 1)
                if row.startswith("threads"):
                    backend.set_threads(engine.n_threads or cores)
                for key, value in speeds.items():
                    samples.setdefault(row, {}).setdefault(key, []).append(value)
        out: dict[str, Any] = {"configured": engine.model_dump(), "cores": cores, "repeats": repeats,
                               "batch_width": {str(w): _width(backends["shipped"], bench, w)
                                               for w in ((1, 3) if quick else (1, 2, 3, 4))}}
    figures = {row: {key: round(summarize(values).median, 1) for key, values in by_key.items()}
               | {f"{key}_range": [round(min(values), 1), round(max(values), 1)] for key, values in by_key.items()}
               for row, by_key in samples.items()}
    out["threads"] = {str(t): figures[f"threads {t}"] for t in thread_counts} | {str(cores): figures["shipped"]}
    out["attention_and_kv"] = {label: figures[label] for label in ("f16 · flash-attn off", "f16 · flash-attn on")}
    out["attention_and_kv"][shipped_label] = figures["shipped"]
    out["ubatch"] = {str(size): figures[f"ubatch {size}"] for size in ubatches}
    if engine.n_ubatch == engine.n_batch:
        out["ubatch"][str(engine.n_ubatch)] = figures["shipped"]
    out["ubatch"] = dict(sorted(out["ubatch"].items(), key=lambda kv: int(kv[0])))
    return out


# -- baseline against optimised -----------------------------------------------------------------
