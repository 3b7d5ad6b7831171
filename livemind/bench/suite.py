"""`run_bench`: every measurement in a fixed order, each timed, the headline keys derived from them.

Order matters on a small machine: the engine figures run first, before sentence-transformers
(torch) is imported, and the HTTP servers run last, alone.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from livemind.bench import (
    attribution,
    bandwidth,
    batch_figures,
    council_figures,
    engine_figures,
    http_figures,
    lookup_figures,
    progress,
    wait_policy,
)
from livemind.bench.prompts import PERSONAS
from livemind.bench.workbench import BenchOptions, Workbench
from livemind.config import LiveMindConfig
from livemind.engine.backends.base import available_cores
from livemind.engine.backends.llama_cpp import engine_version, system_info
from livemind.engine.catalog import ModelCatalog
from livemind.engine.cpu import cpu_name, simd_label
from livemind.errors import InvalidRequestError

LOG = logging.getLogger("livemind.bench")
KEYS = ("overhead_ratio", "consensus_batched_vs_sequential", "round2_prompt_tokens_ratio", "kv_q8_vs_f16_memory",
        "routing_p50_ms", "http_ttft_vs_peer", "latency_reduction_vs_baseline", "latency_spread_vs_baseline",
        "decode_vs_bandwidth_limit", "debate_vs_single_answer", "revision_decode_speedup_lookup", "step_cost_rows_8",
        "samples8_vs_single", "samples_prompt_tokens_ratio", "code_consensus_vs_single")
TARGETS: dict[str, tuple[str, float] | None] = {
    "overhead_ratio": (">=", 0.95),
    "consensus_batched_vs_sequential": ("<=", 0.55),
    "round2_prompt_tokens_ratio": ("<=", 0.40),
    "kv_q8_vs_f16_memory": ("<=", 0.55),
    "routing_p50_ms": ("<=", 15.0),
    "http_ttft_vs_peer": ("<=", 1.0),
    "latency_reduction_vs_baseline": None,  # reported as measured, whatever it is
    "latency_spread_vs_baseline": None,  # reported as measured: below 1 is steadier than the baseline
    "decode_vs_bandwidth_limit": (">=", 0.80),
    "debate_vs_single_answer": ("<=", 4.0),
    "revision_decode_speedup_lookup": (">=", 1.5),
    "step_cost_rows_8": ("<=", 2.5),
    "samples8_vs_single": ("<=", 2.5),
    "samples_prompt_tokens_ratio": ("<=", 1.15),
    "code_consensus_vs_single": ("<=", 3.5),
}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {"cpu": cpu_name(), "simd": simd_label(), "cores_available": available_cores(),
            "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "platform": platform.platform(),
            "python": sys.version.split()[0], "llama_cpp_python": engine_version(), "engine_simd": system_info().strip()}


def _meets(key: str, value: float | None) -> bool | None:
    target = TARGETS[key]
    if target is None or value is None:
        return None
    op, bound = target
    return value >= bound if op == ">=" else value <= bound


def run_bench(options: BenchOptions, *, config: LiveMindConfig, catalog: ModelCatalog, home: Path,
              config_path: Path | None, log: Callable[[str], None]) -> dict[str, Any]:
    """Measure everything and return the bench document (the content of bench.json)."""
    started = time.time()
    doc: dict[str, Any] = {"version": 1, "quick": options.quick, "started_at": started, "machine": machine(),
                           "options": {"runs": options.runs, "max_tokens": options.max_tokens, "prompts": options.prompts,
                                       "only": list(options.only)},
                           "council": {spec.name: spec.model for spec in config.experts},
                           "parts": [progress.new_part([round(x, 2) for x in os.getloadavg()])],
                           "sections": {}, "section_seconds": {}, "errors": {}}
    doc = progress.resume(doc, options.out, restart=options.restart, log=log)
    part = doc["parts"][-1]
    with tempfile.TemporaryDirectory(prefix="livemind-bench-") as scratch:
        bench = Workbench(options=options, config=config, catalog=catalog, home=home, config_path=config_path,
                          scratch=Path(scratch), log=log)
        _measure(doc, _sections(bench, options), started=started, out=options.out, log=log)
    part["seconds"] = round(time.time() - started, 1)
    doc["machine"]["load_average_at_end"] = part["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    doc["duration_s"] = round(sum(p["seconds"] for p in doc["parts"]), 1)
    _headline(doc, options)
    return doc


Section = tuple[str, Callable[[], dict[str, Any]]]


def _sections(bench: Workbench, options: BenchOptions) -> list[Section]:
    """The sections to measure, in order: all of them, or those `--only` names (an unknown name is refused)."""
    embedder = council_figures.embedder_for(bench)
    sections: list[Section] = [
        ("overhead", lambda: engine_figures.overhead(bench)),
        ("consensus", lambda: engine_figures.consensus(bench)),
        ("attribution", lambda: attribution.attribution(bench)),
        ("kv_memory", lambda: engine_figures.kv_memory(bench)),
        ("bandwidth", lambda: bandwidth.decode_vs_bandwidth(bench)),
        ("defaults", lambda: engine_figures.defaults(bench)),
        ("step_cost", lambda: batch_figures.step_cost(bench)),
        ("samples", lambda: batch_figures.samples(bench)),
        ("routing", lambda: council_figures.routing(bench, embedder)),
        ("debate_tokens", lambda: council_figures.debate_tokens(bench, embedder)),
        ("debate_vs_single", lambda: council_figures.debate_vs_single(bench, embedder)),
        ("code_consensus", lambda: batch_figures.code_consensus(bench, embedder)),
        ("revision_lookup", lambda: lookup_figures.revision_lookup(bench)),
    ]
    if not options.quick:  # three policies, alone and in pairs of processes: about a minute
        persona_model = bench.target(bench.spec(PERSONAS[0])).path
        assert persona_model is not None, "the persona model is a local GGUF"
        sections.append(("wait_policy", lambda: wait_policy.measure(persona_model, threads=available_cores(), repeats=5)))
    if options.http:
        sections.append(("http", lambda: http_figures.http_ttft(bench)))
    unknown = set(options.only) - {name for name, _ in sections}
    if unknown:
        raise InvalidRequestError(f"unknown bench sections: {', '.join(sorted(unknown))}",
                                  hint=f"--only takes some of: {', '.join(name for name, _ in sections)}")
    if options.only:
        sections = [(name, measure) for name, measure in sections if name in options.only]
    return sections


def _measure(doc: dict[str, Any], sections: list[Section], *, started: float, out: Path,
             log: Callable[[str], None]) -> None:
    """Measure each section not yet in `doc` into it, keeping the document on disk after each one."""
    part = doc["parts"][-1]
    for name, measure in sections:
        if name in doc["sections"]:
            continue  # measured in an earlier part of this run
        log(f"measuring {name}")
        t0 = time.perf_counter()
        try:
            doc["sections"][name] = measure()
        except Exception as exc:  # one failed measurement must not cost the others
            LOG.exception("bench section %s failed", name)
            doc["errors"][name] = f"{type(exc).__name__}: {exc}"
        doc["section_seconds"][name] = round(time.perf_counter() - t0, 2)
        part["sections"].append(name)
        part["seconds"] = round(time.time() - started, 1)
        part["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        progress.keep(doc, out)


def _headline(doc: dict[str, Any], options: BenchOptions) -> None:
    s = doc["sections"]
    reasons: dict[str, str] = {}

    def pick(key: str, section: str, field: str) -> float | None:
        value = s.get(section, {}).get(field)
        if value is None:
            reasons[key] = s.get(section, {}).get("reason") or doc["errors"].get(section) or (
                "not measured (--no-http)" if section == "http" and not options.http else
                f"not measured (--only {','.join(options.only)})" if options.only and section not in options.only else
                f"{section} gave no figure")
        return round(float(value), 4) if value is not None else None

    values = {
        "overhead_ratio": pick("overhead_ratio", "overhead", "ratio"),
        "consensus_batched_vs_sequential": pick("consensus_batched_vs_sequential", "consensus", "ratio"),
        "round2_prompt_tokens_ratio": pick("round2_prompt_tokens_ratio", "debate_tokens", "round2_ratio"),
        "kv_q8_vs_f16_memory": pick("kv_q8_vs_f16_memory", "kv_memory", "ratio"),
        "routing_p50_ms": pick("routing_p50_ms", "routing", "p50_ms"),
        "http_ttft_vs_peer": pick("http_ttft_vs_peer", "http", "ratio"),
        "latency_reduction_vs_baseline": pick("latency_reduction_vs_baseline", "attribution", "reduction"),
        "latency_spread_vs_baseline": pick("latency_spread_vs_baseline", "attribution", "spread_ratio"),
        "decode_vs_bandwidth_limit": pick("decode_vs_bandwidth_limit", "bandwidth", "ratio"),
        "debate_vs_single_answer": pick("debate_vs_single_answer", "debate_vs_single", "ratio"),
        "revision_decode_speedup_lookup": pick("revision_decode_speedup_lookup", "revision_lookup", "ratio"),
        "step_cost_rows_8": pick("step_cost_rows_8", "step_cost", "ratio"),
        "samples8_vs_single": pick("samples8_vs_single", "samples", "ratio"),
        "samples_prompt_tokens_ratio": pick("samples_prompt_tokens_ratio", "samples", "prompt_ratio"),
        "code_consensus_vs_single": pick("code_consensus_vs_single", "code_consensus", "ratio"),
    }
    doc.update(values)
    doc["targets"] = {k: {"target": f"{TARGETS[k][0]} {TARGETS[k][1]}" if TARGETS[k] else "report",  # type: ignore[index]
                          "met": _meets(k, values[k])} for k in KEYS}
    doc["null_reasons"] = reasons
