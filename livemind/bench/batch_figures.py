"""Many candidates for the price of a few (issue 30): what a decode step of k rows costs, 8 samples of
one prompt against one answer, and code consensus end to end against one answer.

    step_cost       ms per llama_decode of 1, 2, 4 and 8 rows (one token for each of k sequences that
                    hold the same coding prompt), in child processes (`python -m livemind.bench.batch_figures`)
                    because one variant is an environment switch llama.cpp reads once: the shipped engine,
                    and the same with ggml's tiled K-quant matmul off (GGML_CPU_TILED_MM=0, which it takes
                    from 8 rows on for the weights it does not repack, Q6_K here); and, when the installed
                    engine carries source patches (native/patches/), the same build without them, unpacked
                    outside the venv and put first on the child's PYTHONPATH: the patches' "before", in the
                    same run (the full bench builds it if it is not cached; the quick one only uses a cached
                    one). Each child times the row counts in a rotated order, repeat after repeat; the
                    variants alternate child by child.
                    The cost of k rows is k-row ms ÷ 1-row ms of the same repeat. Wall time and the
                    process's CPU time are both kept: on a shared machine the CPU time moves far less.
    samples         8 seeded samples of one coding prompt decoded as one batch (generate_many) against one
                    greedy answer as long as the samples averaged, the two alternating which goes first,
                    the KV cache cleared before each; and the prompt tokens the 8 evaluated ÷ the one's.
    code_consensus  LiveMind.code (3 experts write the function, the sandbox runs every candidate on the
                    task's examples and tests, one is chosen) against one greedy answer to the same
                    question by one of them, alternating, the KV cache cleared before each.

Both batched figures use the shipped engine with at least 8 sequences (`n_seq_max`, 4 by default), so
8 samples decode as one batch.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from livemind.bench.engine_figures import forget_kv
from livemind.bench.prompts import CODE_EXPERT, CODE_SIGNATURE, CODE_TASK, CODE_TESTS, PERSONAS, SEED, SINGLE_EXPERT
from livemind.bench.stats import summarize
from livemind.bench.workbench import Workbench, engine_label
from livemind.council.code import CODE_MAX_TOKENS
from livemind.council.code.consensus import code_question
from livemind.council.embeddings import Embedder
from livemind.council.prompts import first_answer_messages
from livemind.types import ExpertSpec, GenerationRequest, SamplingSettings

ROWS = (1, 2, 4, 8)
SAMPLES = 8
SAMPLE_TEMPERATURE = 0.7  # the eval's self-consistency temperature, when the expert's own is greedy
VARIANTS: dict[str, dict[str, str]] = {"shipped": {}, "tiled matmul off": {"GGML_CPU_TILED_MM": "0"}}
UNPATCHED = "upstream build (no source patches)"


def variants(*, build: bool) -> dict[str, dict[str, str]]:
    """The step-cost variants: VARIANTS, plus the unpatched build when the engine is patched and one is at hand."""
    from livemind_native.build import upstream_engine
    from livemind_native.home import default_home

    found = dict(VARIANTS)
    unpatched = upstream_engine(Path(sys.prefix), default_home(os.environ), build=build, out=sys.stderr)
    if unpatched is not None:
        found[UNPATCHED] = {"PYTHONPATH": os.pathsep.join([str(unpatched), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return found


def _coder(bench: Workbench, **engine: object) -> ExpertSpec:
    names = {e.name for e in bench.config.experts}
    return bench.spec(CODE_EXPERT if CODE_EXPERT in names else SINGLE_EXPERT, **engine)


def _wide(bench: Workbench) -> ExpertSpec:
    """The coder with the shipped engine, holding at least SAMPLES sequences."""
    spec = _coder(bench)
    return _coder(bench, n_seq_max=max(SAMPLES, spec.engine.n_seq_max))


def _messages(spec: ExpertSpec) -> tuple[Any, ...]:
    return tuple(first_answer_messages(spec, code_question(CODE_TASK, CODE_SIGNATURE)))


def _spread(values: list[float], digits: int = 3) -> dict[str, float]:
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "n": len(values)}


# -- the cost of a step of k rows ---------------------------------------------------------------

def step_cost(bench: Workbench) -> dict[str, Any]:
    """ms per decode step at 1, 2, 4 and 8 rows, per variant; the cost of k rows in one-row steps."""
    quick = bench.options.quick
    rounds, repeats, steps = (1, 2, 6) if quick else (3, 3, 16)
    spec = _wide(bench)
    target = bench.target(spec)
    chosen = variants(build=not quick)
    load_start = [round(x, 2) for x in os.getloadavg()]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
    names = list(chosen)
    for round_ in range(rounds):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            runs[name].append(_child_run(target.path, target.chat_format, spec, chosen[name], repeats, steps))  # type: ignore[arg-type]
    out: dict[str, Any] = {"model": spec.model, "engine": engine_label(spec.engine), "rows": list(ROWS), "steps": steps,
                           "repeats_per_child": repeats, "children_per_variant": rounds,
                           "load_average_at_start": load_start, "variants": {}}
    for name, children in runs.items():
        out["variants"][name] = _curve(children)
        out["variants"][name]["environment"] = chosen[name]
    out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    shipped = out["variants"]["shipped"]
    out["ratio"] = shipped["cost"]["8"]["median"]
    out["ratio_range"] = [shipped["cost"]["8"]["min"], shipped["cost"]["8"]["max"]]
    return out


def _curve(children: list[dict[str, Any]]) -> dict[str, Any]:
    """Per row count over every repeat of every child: wall ms, CPU ms, and the cost in one-row steps."""
    wall: dict[str, list[float]] = {str(k): [] for k in ROWS}
    cpu: dict[str, list[float]] = {str(k): [] for k in ROWS}
    cost: dict[str, list[float]] = {str(k): [] for k in ROWS}
    cpu_cost: dict[str, list[float]] = {str(k): [] for k in ROWS}
    for child in children:
        for k in wall:
            for i, (ms, cpu_ms) in enumerate(zip(child["wall_ms"][k], child["cpu_ms"][k], strict=True)):
                wall[k].append(ms)
                cpu[k].append(cpu_ms)
                cost[k].append(ms / child["wall_ms"]["1"][i])
                cpu_cost[k].append(cpu_ms / child["cpu_ms"]["1"][i])
    return {"wall_ms": {k: _spread(v, 2) for k, v in wall.items()}, "cpu_ms": {k: _spread(v, 2) for k, v in cpu.items()},
            "cost": {k: _spread(v) for k, v in cost.items()}, "cpu_cost": {k: _spread(v) for k, v in cpu_cost.items()},
            "threads": children[0]["threads"], "load_average": [c["load_average"] for c in children],
            "engine_file": children[0]["engine_file"]}


def _child_run(model: Path, chat_format: str | None, spec: ExpertSpec, environment: dict[str, str], repeats: int,
               steps: int, timeout_s: float = 900.0) -> dict[str, Any]:
    command = [sys.executable, "-m", "livemind.bench.batch_figures", str(model), chat_format or "",
               spec.engine.model_dump_json(), json.dumps([m.model_dump() for m in _messages(spec)]), str(repeats), str(steps)]
    env = {k: v for k, v in os.environ.items() if k not in ("GGML_CPU_TILED_MM", "GGML_CPU_TILED_MM_FORCE")} | environment
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"a step-cost child failed (exit {done.returncode}): {done.stderr[-1500:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    wanted = environment.get("PYTHONPATH", "").split(os.pathsep)[0]
    if wanted and not str(result["engine_file"]).startswith(wanted):
        raise RuntimeError(f"a step-cost child meant to load the engine in {wanted} loaded {result['engine_file']}")
    return result


def _child(model: str, chat_format: str, engine_json: str, messages_json: str, repeats: int, steps: int) -> dict[str, Any]:
    """In a fresh process: load the shipped engine, put the prompt in 8 sequences, time steps of k rows."""
    from livemind.engine.backends.base import LoadTarget
    from livemind.engine.backends.llama_cpp import llama_cpp
    from livemind.engine.backends.llama_loader import LlamaBatchLoader
    from livemind.types import ChatMessage, EngineSettings

    engine = EngineSettings.model_validate_json(engine_json)
    messages = tuple(ChatMessage.model_validate(m) for m in json.loads(messages_json))
    target = LoadTarget(model=Path(model).stem, path=Path(model), engine=engine, chat_format=chat_format or None)
    backend = LlamaBatchLoader().load(target)
    try:
        # one read of the prompt, copied to the other sequences (samples of one prompt)
        backend.generate_many([GenerationRequest(messages=messages, sampling=SamplingSettings(
            temperature=SAMPLE_TEMPERATURE, seed=SEED + i, max_tokens=1)) for i in range(max(ROWS))])
        memory = llama_cpp.llama_get_memory(backend._ctx)
        batch = backend._batch
        held = {slot.seq_id: len(slot.tokens) for slot in backend.kv.slots}

        def block(rows: int) -> tuple[float, float]:
            wall, cpu = time.perf_counter(), time.process_time()
            for step in range(steps):
                for seq in range(rows):
                    batch.token[seq], batch.pos[seq], batch.n_seq_id[seq] = 220 + step, held[seq] + step, 1
                    batch.seq_id[seq][0], batch.logits[seq] = seq, True
                batch.n_tokens = rows
                if llama_cpp.llama_decode(backend._ctx, batch) != 0:
                    raise SystemExit("llama_decode failed")
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            for seq in range(rows):
                llama_cpp.llama_memory_seq_rm(memory, seq, held[seq], -1)
            return wall * 1000 / steps, cpu * 1000 / steps

        block(1)  # warm
        wall_ms: dict[str, list[float]] = {str(k): [] for k in ROWS}
        cpu_ms: dict[str, list[float]] = {str(k): [] for k in ROWS}
        for repeat in range(repeats):
            shift = repeat % len(ROWS)
            for rows in ROWS[shift:] + ROWS[:shift]:
                ms, cpu = block(rows)
                wall_ms[str(rows)].append(round(ms, 3))
                cpu_ms[str(rows)].append(round(cpu, 3))
        return {"wall_ms": wall_ms, "cpu_ms": cpu_ms, "threads": backend.threads,
                "load_average": round(os.getloadavg()[0], 2), "engine_file": llama_cpp.__file__}
    finally:
        backend.close()


# -- 8 samples of one prompt against one answer ----------------------------------------------------

def samples(bench: Workbench) -> dict[str, Any]:
    """8 sampled candidates of one coding prompt, one batch, against one greedy answer of their mean length."""
    from livemind.engine.backends.llama_loader import LlamaBatchLoader

    runs = 1 if bench.options.quick else bench.options.runs
    spec = _wide(bench)
    messages = _messages(spec)
    temperature = spec.sampling.temperature or SAMPLE_TEMPERATURE
    backend = LlamaBatchLoader().load(bench.target(spec))
    rows: list[dict[str, Any]] = []
    length = bench.options.max_tokens
    try:
        backend.generate(GenerationRequest(messages=messages, sampling=SamplingSettings(temperature=0.0, max_tokens=2)))
        for run in range(runs):
            measured: dict[str, Any] = {}
            for side in (("samples", "single") if run % 2 == 0 else ("single", "samples")):
                backend.forget()  # both sides read the prompt: no prefix cache
                start = time.perf_counter()
                if side == "samples":
                    done = backend.generate_many([GenerationRequest(messages=messages, sampling=SamplingSettings(
                        temperature=temperature, seed=SEED + 100 * run + i, max_tokens=bench.options.max_tokens))
                        for i in range(SAMPLES)])
                    measured["samples_s"] = time.perf_counter() - start
                    measured["samples_tokens"] = [c.completion_tokens for c in done]
                    measured["samples_prompt_tokens"] = [c.prompt_tokens for c in done]
                    length = max(1, round(statistics.fmean(measured["samples_tokens"])))
                else:
                    one = backend.generate(GenerationRequest(messages=messages, sampling=SamplingSettings(
                        temperature=0.0, max_tokens=length)))
                    measured["single_s"] = time.perf_counter() - start
                    measured["single_tokens"], measured["single_prompt_tokens"] = one.completion_tokens, one.prompt_tokens
            measured["ratio"] = measured["samples_s"] / measured["single_s"]
            measured["prompt_ratio"] = sum(measured["samples_prompt_tokens"]) / max(1, measured["single_prompt_tokens"])
            rows.append({"run": run, **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in measured.items()}})
    finally:
        backend.close()
    ratios, prompt_ratios = [r["ratio"] for r in rows], [r["prompt_ratio"] for r in rows]
    return {"expert": spec.name, "model": spec.model, "engine": engine_label(spec.engine), "samples": SAMPLES,
            "temperature": temperature, "max_tokens": bench.options.max_tokens,
            "samples_s": summarize([r["samples_s"] for r in rows]).as_dict(),
            "single_s": summarize([r["single_s"] for r in rows]).as_dict(),
            "ratio": round(statistics.median(ratios), 4), "ratio_per_run": _spread(ratios),
            "prompt_ratio": round(statistics.median(prompt_ratios), 4), "prompt_ratio_per_run": _spread(prompt_ratios),
            "rows": rows}


# -- code consensus against one answer -------------------------------------------------------------

def code_consensus(bench: Workbench, embedder: Embedder) -> dict[str, Any]:
    """LiveMind.code end to end (candidates, runs, pick) against one greedy answer to the same question."""
    from livemind.bench.council_figures import _mind

    runs = 1 if bench.options.quick else 3
    limit = 4 * bench.options.max_tokens if bench.options.quick else CODE_MAX_TOKENS
    names = {e.name for e in bench.config.experts}
    experts = [n for n in PERSONAS if n in names] or [SINGLE_EXPERT]
    single_expert = CODE_EXPERT if CODE_EXPERT in experts else experts[0]
    mind = _mind(bench, embedder, "code-consensus")
    rows: list[dict[str, Any]] = []
    try:
        mind.ask("Hi", expert=single_expert, max_tokens=2, seed=1)  # the load is in neither side
        targets = list({mind.runner.target_for(bench.spec(n)).key: mind.runner.target_for(bench.spec(n))
                        for n in experts}.values())
        for run in range(runs):
            measured: dict[str, Any] = {}
            for side in (("code", "single") if run % 2 == 0 else ("single", "code")):
                forget_kv(mind.runner, targets)
                start = time.perf_counter()
                if side == "code":
                    result = mind.code(CODE_TASK, signature=CODE_SIGNATURE, tests=CODE_TESTS, experts=experts,
                                       max_tokens=limit)
                    measured["code_s"] = time.perf_counter() - start
                    measured["code_tokens"] = [c.tokens for c in result.candidates]
                    measured["agreement"], measured["chosen"] = result.agreement, result.chosen_expert
                    measured["examples"] = len(result.examples)
                    measured["passed"] = [c.examples_passed for c in result.candidates]
                    measured["checked_while_decoding"] = result.checked_while_decoding
                else:
                    answer = mind.ask(code_question(CODE_TASK, CODE_SIGNATURE), expert=single_expert, temperature=0.0,
                                      max_tokens=limit)
                    measured["single_s"] = time.perf_counter() - start
                    measured["single_tokens"] = answer.tokens
            measured["ratio"] = measured["code_s"] / measured["single_s"]
            rows.append({"run": run, **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in measured.items()}})
        widest = max((lane.max_batch for lane in mind.runner.scheduler.reports()), default=0)
    finally:
        mind.close()
    ratios = [r["ratio"] for r in rows]
    return {"experts": experts, "single_expert": single_expert, "max_tokens": limit, "widest_batch": widest,
            "schedule_mode": mind.runner.scheduler.mode,
            "code_s": summarize([r["code_s"] for r in rows]).as_dict(),
            "single_s": summarize([r["single_s"] for r in rows]).as_dict(),
            "ratio": round(statistics.median(ratios), 4), "ratio_per_run": _spread(ratios), "rows": rows}


if __name__ == "__main__":
    if len(sys.argv) != 7:
        sys.exit("usage: python -m livemind.bench.batch_figures MODEL CHAT_FORMAT ENGINE_JSON MESSAGES_JSON REPEATS STEPS "
                 "(run by `livemind bench`)")
    print(json.dumps(_child(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))))
