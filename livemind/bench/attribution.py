"""Where the council's speed comes from: each engine factor measured on its own, against a fair baseline.

The baseline is what a user would run without LiveMind: a warm `llama_cpp.Llama` with
llama-cpp-python's defaults (f16 KV, no flash attention, batch 512), the same threads as
LiveMind, the three personas' first answers one request at a time. Each factor changes one
thing against its neighbour in this chain, so the ratios multiply to the end-to-end figure:

    plain, llama-cpp-python's default threads ─ threads ─▶ plain (the baseline)
    plain ─ q8_0 KV + flash attention ─▶ plain with LiveMind's KV settings
          ─ LiveMind's engine (batch backend, one sequence at a time) ─▶ LiveMind sequential
          ─ batched personas ─▶ LiveMind batched (what ships)
    plain, loaded for each request (the naive baseline, labelled so) ─ warm pool ─▶ plain

Every configuration answers the same prompt in each run, in an order rotated run by run; each
ratio is taken within a run (same prompt) and reported as its median with min and max over the
runs. KV reuse across rounds and the OpenMP wait policy act after round one, so they are
reported by their own sections (`debate_tokens`, `wait_policy`), not multiplied in here.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from livemind.bench.engine_figures import forget_kv, warm
from livemind.bench.prompts import PERSONAS
from livemind.bench.stats import summarize
from livemind.bench.workbench import RoundTiming, Workbench, concurrent_round, engine_label, sequential_round
from livemind.engine.backends.base import available_cores
from livemind.engine.backends.factory import RoutingLoader
from livemind.engine.backends.llama_cpp import LlamaCppLoader
from livemind.engine.runner import ExpertRunner
from livemind.types import ExpertSpec

# llama-cpp-python's own engine defaults for `Llama(...)`.
PLAIN_ENGINE = {"kv_type": "f16", "flash_attn": False, "n_batch": 512, "n_ubatch": 512, "n_seq_max": 1}
CONFIGS = ("plain_default_threads", "plain", "plain_q8_flash", "livemind_sequential", "livemind_batched", "plain_cold")
# (factor, faster configuration, slower configuration, what changes)
FACTORS = (
    ("threads", "plain", "plain_default_threads", "all available cores instead of llama-cpp-python's half"),
    ("q8_0 KV + flash attention", "plain_q8_flash", "plain", "LiveMind's KV settings in plain llama-cpp-python"),
    ("LiveMind's engine", "livemind_sequential", "plain_q8_flash", "the batch backend, one sequence at a time, same settings"),
    ("batched personas", "livemind_batched", "livemind_sequential", "the three personas decode as one batch"),
)
NAIVE = ("warm pool", "plain", "plain_cold", "the model kept loaded instead of loaded for each request (naive baseline)")


def llama_cpp_python_default_threads() -> int:
    """llama-cpp-python's own default: half the CPUs."""
    return max(1, (os.cpu_count() or 2) // 2)


def attribution(bench: Workbench) -> dict[str, Any]:
    """Every configuration's round-one latency, each factor's speed-up with its spread, and their product."""
    threads = available_cores()
    specs: dict[str, list[ExpertSpec]] = {
        "plain_default_threads": [bench.spec(n, **PLAIN_ENGINE, n_threads=llama_cpp_python_default_threads())
                                  for n in PERSONAS],
        "plain": [bench.spec(n, **PLAIN_ENGINE, n_threads=threads) for n in PERSONAS],
        "plain_q8_flash": [bench.spec(n, **{**PLAIN_ENGINE, "kv_type": "q8_0", "flash_attn": True}, n_threads=threads)
                           for n in PERSONAS],
        "livemind_sequential": [bench.spec(n) for n in PERSONAS],
        "livemind_batched": [bench.spec(n) for n in PERSONAS],
    }
    specs["plain_cold"] = specs["plain"]
    plain_loader = RoutingLoader(LlamaCppLoader())
    runners = {name: bench.runner(plain_loader) for name in ("plain_default_threads", "plain", "plain_q8_flash")}
    livemind = bench.runner()
    runners["livemind_sequential"] = runners["livemind_batched"] = livemind
    latency: dict[str, list[float]] = {name: [] for name in CONFIGS}
    try:
        for name, runner in runners.items():
            warm(runner, specs[name][0])
        for run in range(bench.options.runs):
            prompt = run % len(bench.prompts)
            order = CONFIGS[run % len(CONFIGS):] + CONFIGS[: run % len(CONFIGS)]
            for name in order:
                latency[name].append(_round(bench, name, specs[name], runners.get(name), prompt, run).wall_s)
    finally:
        for runner in {id(r): r for r in runners.values()}.values():
            runner.pool.unload_all()
    return chain_figures(latency, [specs[name][0] for name in CONFIGS], bench.options.runs)


def chain_figures(latency: dict[str, list[float]], specs: list[ExpertSpec] | None, runs: int) -> dict[str, Any]:
    """Each factor's speed-up, and the whole chain measured against the product of its links.

    Two spans, each with its own product so the two sides compare like with like: from
    llama-cpp-python's default threads to what ships (every factor), and from the baseline (the same
    threads as LiveMind) to what ships (every factor but threads).
    """
    result: dict[str, Any] = {
        "baseline": "warm llama_cpp.Llama, llama-cpp-python's engine defaults, LiveMind's threads, one request at a time",
        "configs": {name: {"latency_s": summarize(latency[name]).as_dict(),
                           "latencies_s": [round(x, 3) for x in latency[name]]} for name in CONFIGS},
        "factors": [_factor(latency, *factor) for factor in FACTORS],
        "naive": _factor(latency, *NAIVE),
        "runs": runs,
    }
    for name, spec in zip(CONFIGS, specs, strict=True) if specs else ():
        result["configs"][name]["engine"] = engine_label(spec.engine)
    medians = {f["factor"]: f["speedup"]["median"] for f in result["factors"]}
    shipped = latency["livemind_batched"]
    for key, start, factors in (("end_to_end_speedup", "plain_default_threads", list(medians)),
                                ("vs_baseline_speedup", "plain", [f for f in medians if f != "threads"])):
        result[key] = summarize([b / o for o, b in zip(shipped, latency[start], strict=True)]).as_dict(3)
        result[key]["product_of_factors"] = round(math.prod(medians[f] for f in factors), 3)
        result[key]["from"] = start
    result["product_of_factors"] = result["end_to_end_speedup"]["product_of_factors"]
    base, last = summarize(latency["plain"]).median, summarize(shipped).median
    result["reduction"] = 1 - last / base if base else None
    result["spread"] = spread_vs_baseline(result["configs"])
    result["spread_ratio"] = result["spread"]["ratio"]
    return result


def spread_vs_baseline(configs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The spread of what ships' end-to-end latency against the fair baseline's, on the same requests.

    `ratio` is the standard deviation of the shipped configuration's round latencies over the
    baseline's (run k of each answers the same prompt): below 1, LiveMind's latency is steadier.
    The ARM-Axion seed's "stability +96.4% (standard deviation reduced)" is `reduction`, 1 - ratio.
    Reads the stored `latencies_s`, so it also applies to a bench.json written before this figure.
    """
    shipped, baseline = configs["livemind_batched"]["latencies_s"], configs["plain"]["latencies_s"]
    ours, theirs = summarize(shipped), summarize(baseline)
    ratio = ours.stdev / theirs.stdev if theirs.stdev and ours.n > 1 else None
    return {"requests": min(ours.n, theirs.n), "shipped_stdev_s": round(ours.stdev, 4),
            "baseline_stdev_s": round(theirs.stdev, 4), "ratio": round(ratio, 4) if ratio is not None else None,
            "reduction": round(1 - ratio, 4) if ratio is not None else None}


def _round(bench: Workbench, name: str, specs: list[ExpertSpec], runner: ExpertRunner | None, prompt: int,
           run: int) -> RoundTiming:
    if name == "plain_cold":  # a fresh pool: the load is part of the latency
        cold = bench.runner(RoutingLoader(LlamaCppLoader()))
        try:
            return sequential_round(cold, specs, bench, prompt)
        finally:
            cold.pool.unload_all()
    assert runner is not None
    forget_kv(runner, [runner.target_for(specs[0])])  # a repeated prompt is read again, on every side
    if name == "livemind_batched":
        return concurrent_round(runner, specs, bench, prompt, session=f"attribution-{run}")
    return sequential_round(runner, specs, bench, prompt)


def _factor(latency: dict[str, list[float]], label: str, fast: str, slow: str, what: str) -> dict[str, Any]:
    """slow ÷ fast per run (above 1: the factor helps), median and range."""
    per_run = [s / f for f, s in zip(latency[fast], latency[slow], strict=True) if f > 0]
    return {"factor": label, "what": what, "faster": fast, "slower": slow, "speedup": summarize(per_run).as_dict(3)}
