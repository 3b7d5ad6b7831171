"""Writes a bench document as DIR/bench.json, DIR/report.md and DIR/*.png."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from livemind.bench.plots import write_plots
from livemind.bench.suite import KEYS

ROUND_RUNS = ("private_with_reuse", "private_without_reuse", "shared_with_reuse", "shared_without_reuse")

EXPLAIN = {
    "overhead_ratio": "LiveMind single-expert decode tok/s ÷ raw llama-cpp-python tok/s (same prompts, seeds, settings)",
    "consensus_batched_vs_sequential": "wall time of 3 personas batched ÷ the same 3 one sequence at a time",
    "round2_prompt_tokens_ratio": "debate round 2 prompt tokens evaluated with KV reuse and the shared transcript "
                                  "([debate] transcript = shared, read once and copied) ÷ re-reading the same prompts",
    "kv_q8_vs_f16_memory": "KV bytes of the same conversation, q8_0 cache ÷ f16 cache",
    "routing_p50_ms": "median milliseconds to score every expert for a question, warm",
    "http_ttft_vs_peer": "`livemind serve` median TTFT ÷ `python -m llama_cpp.server` median TTFT, same model, prompt and "
                         "engine settings, the peer's logits_all off",
    "latency_reduction_vs_baseline": "1 − shipped median latency ÷ fair baseline median latency (warm plain "
                                     "llama-cpp-python, its engine defaults, the same threads; 3 personas' first answers)",
    "latency_spread_vs_baseline": "standard deviation of the shipped round latency ÷ the fair baseline's, on the same "
                                  "requests (below 1: steadier; the seed's \"stability\" figure is 1 − this)",
    "decode_vs_bandwidth_limit": "single-sequence decode tok/s × bytes read per token (all tensors + KV) ÷ measured "
                                 "memory bandwidth (STREAM copy/triad, all cores)",
    "debate_vs_single_answer": "wall time of the founding debate (3 experts, answers + 1 revision round + synthesis) ÷ "
                               "one expert's answer of the debate's mean answer length",
    "revision_decode_speedup_lookup": "decode time per token of a debate revision decoded alone, plain ÷ with the shipped "
                                      "prompt-lookup guesses (exact: same text), median of pairs",
    "step_cost_rows_8": "ms of one decode step of 8 rows ÷ ms of a step of 1 row (8 sequences holding one coding "
                        "prompt; shipped engine with 8 sequences), median over repeats in rotated order",
    "samples8_vs_single": "wall time of 8 seeded samples of one coding prompt decoded as one batch ÷ one greedy "
                          "answer of their mean length, median over alternated runs",
    "samples_prompt_tokens_ratio": "prompt tokens evaluated for 8 samples of one prompt ÷ for 1 (KV cleared before "
                                   "each side), median over runs",
    "code_consensus_vs_single": "wall time of LiveMind.code (3 experts, sandbox runs, pick) on a HumanEval-sized task "
                                "÷ one greedy answer to the same question, median over alternated runs",
}


def write_report(doc: dict[str, Any], out: Path) -> list[Path]:
    """Write the JSON, the plots and the Markdown report; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "bench.json"
    json_path.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    plots = write_plots(doc, out)
    md_path = out / "report.md"
    md_path.write_text(render_markdown(doc, plots), encoding="utf-8")
    return [json_path, md_path, *(out / p for p in plots)]


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_markdown(doc: dict[str, Any], plots: list[str]) -> str:
    """The human-readable report: headline table with targets, then every section's figures."""
    s = doc["sections"]
    lines = (_headline(doc) + _speed_sections(s) + _batch_sections(s) + _debate_sections(s)
             + _memory_and_serving_sections(s))
    if doc["errors"]:
        lines += ["", "## Errors", ""] + [f"- {k}: {v}" for k, v in doc["errors"].items()]
    lines += ["", "## Section times", ""] + [f"- {k}: {v} s" for k, v in doc["section_seconds"].items()]
    lines += [""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _parts_lines(parts: list[dict[str, Any]]) -> list[str]:
    """When the run was resumed: each sitting's start, wall time, load and sections."""
    if len(parts) < 2:
        return []
    return ["", f"The run was measured in {len(parts)} parts (it resumed where it stopped):", "",
            *[f"- part {i}: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(p['started_at']))}, {p['seconds']} s, "
              f"load average {p['load_average_at_start'][0]} → {p.get('load_average_at_end', ['?'])[0]}: "
              f"{', '.join(p['sections']) or 'nothing new'}" for i, p in enumerate(parts, 1)]]


def _headline(doc: dict[str, Any]) -> list[str]:
    """Title, machine and options, and the table of headline figures against their targets."""
    m = doc["machine"]
    lines = [
        f"# LiveMind bench ({'quick' if doc['quick'] else 'full'})", "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(doc['started_at']))} in {doc['duration_s']} s on "
        f"{m['cpu']}, {m['cores_available']} cores, {m['ram_gib']} GiB RAM; llama-cpp-python {m['llama_cpp_python']}; "
        f"load average {m['load_average_at_start'][0]} at start, {m['load_average_at_end'][0]} at end.",
        f"Each figure below comes from this one run; ratios compare measurements taken alternately in the same run. "
        f"{doc['options']['runs']} run(s) × {doc['options']['prompts']} prompt(s), {doc['options']['max_tokens']} tokens.",
        *_parts_lines(doc.get("parts") or []),
        "", "| figure | value | target | met | what it is |", "|---|---|---|---|---|",
    ]
    for key in KEYS:
        target = doc["targets"][key]
        met = {True: "yes", False: "**no**", None: "—"}[target["met"]]
        value = _fmt(doc.get(key))
        if doc.get(key) is None and key in doc["null_reasons"]:
            value = f"null ({doc['null_reasons'][key]})"
        lines.append(f"| `{key}` | {value} | {target['target']} | {met} | {EXPLAIN[key]} |")
    return lines


def _speed_sections(s: dict[str, Any]) -> list[str]:
    """The attribution, overhead and consensus sections, for those the document has."""
    lines: list[str] = []
    if "attribution" in s:
        a = s["attribution"]
        lines += ["", "## Where the speed comes from", "",
                  f"Baseline: {a['baseline']}. Each factor changes one thing; speed-up = slower ÷ faster latency of "
                  f"the three personas' first answers, per run (same prompt), median and range over {a['runs']} runs.", "",
                  "| factor | what changes | speed-up median | min | max |", "|---|---|---|---|---|"]
        for f in a["factors"]:
            x = f["speedup"]
            lines.append(f"| {f['factor']} | {f['what']} | {_fmt(x['median'])} | {_fmt(x['min'])} | {_fmt(x['max'])} |")
        e, n = a["end_to_end_speedup"], a["naive"]["speedup"]
        lines.append(f"| **all of them** | from llama-cpp-python's default threads; product of the medians "
                     f"{_fmt(a['product_of_factors'])} | measured {_fmt(e['median'])} | {_fmt(e['min'])} | {_fmt(e['max'])} |")
        if "vs_baseline_speedup" in a:
            b = a["vs_baseline_speedup"]
            lines.append(f"| **all but threads** | from the baseline (LiveMind's threads); product of the medians "
                         f"{_fmt(b['product_of_factors'])} | measured {_fmt(b['median'])} | {_fmt(b['min'])} | "
                         f"{_fmt(b['max'])} |")
        lines += [f"| (naive baseline) | {a['naive']['what']} | {_fmt(n['median'])} | {_fmt(n['min'])} | {_fmt(n['max'])} |",
                  "", "| configuration | engine | latency median | min | max |", "|---|---|---|---|---|"]
        for name, c in a["configs"].items():
            x = c["latency_s"]
            lines.append(f"| {name} | {c.get('engine', '')} | {_fmt(x['median'])} s | {_fmt(x['min'])} s | {_fmt(x['max'])} s |")
        lines += ["", "KV reuse across rounds and the OpenMP wait policy act after the first answers: their sections follow."]
    if "overhead" in s:
        o = s["overhead"]
        lines += ["", "## LiveMind against raw llama-cpp-python", "",
                  f"- decode tok/s: LiveMind {_fmt(o['livemind_tok_s']['mean'], 1)} (±{_fmt(o['livemind_tok_s']['stdev'], 1)}), "
                  f"raw {_fmt(o['raw_tok_s']['mean'], 1)} (±{_fmt(o['raw_tok_s']['stdev'], 1)})",
                  f"- TTFT: LiveMind {_fmt(o['livemind_ttft_s']['mean'])} s, raw {_fmt(o['raw_ttft_s']['mean'])} s",
                  f"- identical texts: {o['identical_texts']} of {o['pairs']} (same prompt and seed)",
                  *_pair_line(o),
                  f"- engine: {o['engine']}"]
    if "consensus" in s:
        c = s["consensus"]
        lines += ["", "## Consensus: batched against sequential", "",
                  f"- wall time for 3 personas: batched {_fmt(c['batched_s']['mean'])} s, "
                  f"sequential {_fmt(c['sequential_s']['mean'])} s",
                  f"- generated tok/s: batched {_fmt(c['batched_tok_s'], 1)}, sequential {_fmt(c['sequential_tok_s'], 1)}",
                  f"- widest batch seen: {c['widest_batch']} sequences; identical answers batched vs sequential: "
                  f"{c['identical_texts']} of {c['answers']}", *_pair_line(c)]
    return lines


def _batch_sections(s: dict[str, Any]) -> list[str]:
    """The step-cost curve, 8 samples against one answer, and code consensus, for those the document has."""
    lines: list[str] = []
    if "step_cost" in s:
        c = s["step_cost"]
        lines += ["", "## What a decode step of k rows costs", "",
                  f"{c['model']}, {c['engine']}; {c['steps']} steps per figure, {c['repeats_per_child']} repeats in rotated "
                  f"order in each of {c['children_per_variant']} child process(es) per variant, the variants alternating; "
                  f"load average {c['load_average_at_start'][0]} at start, {c['load_average_at_end'][0]} at end. Cost = "
                  "k-row step ÷ 1-row step of the same repeat, median (min–max). CPU = the process's CPU time per step "
                  "(both threads, spinning included), which a busy machine moves far less than the wall time.", "",
                  "| variant | rows | wall ms | cost | CPU ms | CPU cost |", "|---|---|---|---|---|---|"]
        for name, v in c["variants"].items():
            for k in v["wall_ms"]:
                w, x, u, y = v["wall_ms"][k], v["cost"][k], v["cpu_ms"][k], v["cpu_cost"][k]
                lines.append(f"| {name} | {k} | {_fmt(w['median'], 1)} ({_fmt(w['min'], 1)}–{_fmt(w['max'], 1)}) | "
                             f"{_fmt(x['median'], 2)} ({_fmt(x['min'], 2)}–{_fmt(x['max'], 2)}) | {_fmt(u['median'], 1)} | "
                             f"{_fmt(y['median'], 2)} ({_fmt(y['min'], 2)}–{_fmt(y['max'], 2)}) |")
    if "samples" in s:
        m = s["samples"]
        r, p = m["ratio_per_run"], m["prompt_ratio_per_run"]
        lines += ["", "## Eight samples of one prompt against one answer", "",
                  f"- {m['samples']} samples by {m['expert']} ({m['model']}, {m['engine']}, temperature {m['temperature']}, "
                  f"up to {m['max_tokens']} tokens): {_fmt(m['samples_s']['median'])} s; one greedy answer of their mean "
                  f"length: {_fmt(m['single_s']['median'])} s; ratio {_fmt(m['ratio'])} "
                  f"({_fmt(r['min'])}–{_fmt(r['max'])}, {r['n']} runs)",
                  f"- prompt tokens evaluated, 8 samples ÷ 1: {_fmt(m['prompt_ratio'])} ({_fmt(p['min'])}–{_fmt(p['max'])}); "
                  f"per run: {', '.join(str(row['samples_prompt_tokens']) for row in m['rows'])}"]
    if "code_consensus" in s:
        c = s["code_consensus"]
        r = c["ratio_per_run"]
        lines += ["", "## Code consensus against one answer", "",
                  f"- LiveMind.code with {', '.join(c['experts'])} (up to {c['max_tokens']} tokens each, scheduler "
                  f"{c['schedule_mode']}, widest batch {c['widest_batch']}): {_fmt(c['code_s']['median'])} s; one greedy "
                  f"answer by {c['single_expert']}: {_fmt(c['single_s']['median'])} s; ratio {_fmt(c['ratio'])} "
                  f"({_fmt(r['min'])}–{_fmt(r['max'])}, {r['n']} runs)",
                  "- per run (candidates' tokens; single's tokens): " + "; ".join(
                      f"{row['code_tokens']}, {row['single_tokens']}" for row in c["rows"])]
        if any("checked_while_decoding" in row for row in c["rows"]):
            lines.append("- candidates already run in the sandbox when the last one was written, per run: "
                         + ", ".join(str(row.get("checked_while_decoding", "—")) for row in c["rows"]))
    return lines


def _debate_sections(s: dict[str, Any]) -> list[str]:
    """Prompt tokens per round, the debate against one answer, and prompt-lookup guesses, for those the document has."""
    lines: list[str] = []
    if "debate_tokens" in s:
        d = s["debate_tokens"]
        n_rounds = len(d["private_without_reuse"]["prompt_tokens_per_round"])
        lines += ["", "## Debate: prompt tokens per round", "",
                  "| layout | KV | " + " | ".join(f"round {i + 1}" for i in range(n_rounds)) + " | wall |",
                  "|---|---|" + "---|" * (n_rounds + 1)]
        for key in ROUND_RUNS:
            layout, _, kv = key.partition("_")
            lines.append(f"| {layout} | {'kept, copied' if kv == 'with_reuse' else 're-read'} | "
                         + " | ".join(str(x) for x in d[key]["prompt_tokens_per_round"]) + f" | {d[key]['wall_s']} s |")
        lines += ["", f"Round 2 ratio: private {_fmt(d['round2_ratio_private'])}, shared {_fmt(d['round2_ratio_shared'])}. "
                      f"Same answers kept vs re-read: private {'yes' if d['same_answers_private'] else 'no'}, "
                      f"shared {'yes' if d['same_answers_shared'] else 'no'}. Round 1 has nothing to reuse; "
                      "the shared layout reads the common transcript once per round and copies it to the other experts."]
    if "debate_vs_single" in s:
        v = s["debate_vs_single"]
        lines += ["", "## The founding debate against one answer", "",
                  f"- {len(v['experts'])} experts ({', '.join(v['experts'])}), {v['rounds']} rounds and the synthesis: "
                  f"{_fmt(v['debate_s']['median'])} s; one answer of the same length "
                  f"({', '.join(str(t) for t in v['answer_tokens'])} tokens): {_fmt(v['single_s']['median'])} s",
                  f"- ratio {_fmt(v['ratio'])} (runs {_fmt(v['ratio_per_run']['min'])}–{_fmt(v['ratio_per_run']['max'])})"]
        if "work_ratio_per_run" in v:
            lines.append(f"- ceiling: the debate read and wrote {', '.join(str(t) for t in v['debate_tokens_processed'])} "
                         f"tokens against the answer's {', '.join(str(t) for t in v['single_tokens'])} "
                         f"(× {', '.join(_fmt(r) for r in v['work_ratio_per_run'])}); a prompt token costs less than a "
                         "generated one, so the ratio stays below this")
    if "revision_lookup" in s and s["revision_lookup"].get("ratio") is not None:
        r = s["revision_lookup"]
        b = r["batched_fast"]
        lines += ["", "## Prompt-lookup guesses on debate revisions", "",
                  f"- alone, {r['guesses_per_step']} guesses a step (shipped, exact): {_fmt(r['ratio'])}× decode speed "
                  f"(pairs {_fmt(r['ratio_per_pair']['min'])}–{_fmt(r['ratio_per_pair']['max'])}), "
                  f"{_fmt(r['acceptance'])} of guesses kept, same text {r['same_text']} of {r['answers']}",
                  f"- three revisions batched, {b['guesses_per_step']} guesses a step (`lookup_exact = false`): "
                  f"{_fmt(b['ratio'])}× (pairs {_fmt(b['ratio_per_pair']['min'])}–{_fmt(b['ratio_per_pair']['max'])}), "
                  f"{_fmt(b['acceptance'])} kept, same text {b['same_texts']} of {b['answers']}"]
    return lines


def _memory_and_serving_sections(s: dict[str, Any]) -> list[str]:
    """The KV memory, routing, HTTP, engine defaults and wait policy sections, for those the document has."""
    lines: list[str] = []
    if "kv_memory" in s:
        k = s["kv_memory"]
        lines += ["", "## KV cache memory", "",
                  f"- same conversation: f16 {k['f16']['state_bytes'] / 2**20:.2f} MiB, "
                  f"q8_0 {k['q8_0']['state_bytes'] / 2**20:.2f} MiB "
                  f"(ratio {_fmt(k['ratio'])}); allocated for a full window: ratio {_fmt(k['allocated_ratio'])}"]
    if "routing" in s:
        r = s["routing"]
        lines += ["", "## Routing", "",
                  f"- warm: p50 {_fmt(r['p50_ms'], 2)} ms, p95 {_fmt(r['p95_ms'], 2)} ms over {r['queries']} questions "
                  f"(warm-up {r['warm_up_s']} s)"]
    if "http" in s:
        h = s["http"]
        lines += ["", "## HTTP time to first token", ""]
        if h.get("ratio") is None:
            lines.append(f"- not measured: {h.get('reason')}")
        else:
            def span(key: str) -> str:
                t = h[key]
                return f"median {_fmt(t['median'])} s (min {_fmt(t['min'])}, max {_fmt(t['max'])})"

            lines.append(f"- LiveMind {span('livemind_ttft_s')}; the fair peer ({h.get('peer', 'llama_cpp.server')}) "
                         f"{span('peer_ttft_s')}; over {h['requests']} requests each; identical texts {h['identical_texts']}")
            if "default_peer_ttft_s" in h:
                per = h["ratio_per_request"]
                stages = h.get("livemind_stages_ms") or {}
                if stages:
                    lines += ["", "Where LiveMind's time to first token goes (its own account, ms, over the requests):", "",
                              "| stage | median | min | max |", "|---|---|---|---|",
                              *[f"| {name} | {_fmt(x['median'], 2)} | {_fmt(x['min'], 2)} | {_fmt(x['max'], 2)} |"
                                for name, x in stages.items()], ""]
                lines += [f"- the peer as its defaults leave it ({h['default_peer']}): {span('default_peer_ttft_s')}; "
                          f"LiveMind ÷ it {_fmt(h['ratio_vs_default_peer'])}",
                          f"- LiveMind ÷ fair peer per request: median {_fmt(per['median'])} "
                          f"(min {_fmt(per['min'])}, max {_fmt(per['max'])})"]
            for name, peer in (h.get("others") or {}).items():
                t, per = peer["ttft_s"], peer["per_request"]
                lines.append(f"- {name} ({peer['settings']}): median {_fmt(t['median'])} s (min {_fmt(t['min'])}, "
                             f"max {_fmt(t['max'])}); LiveMind ÷ it {_fmt(peer['livemind_over_it'])}, per request "
                             f"median {_fmt(per['median'])} (min {_fmt(per['min'])}, max {_fmt(per['max'])})")
            repeated = h.get("repeated_question_ttft_s") or {}
            if repeated:
                lines += ["", "The same question asked again at once (a prompt cache answers it without prefill); "
                              "median TTFT (min–max):", "",
                          "| server | new question | asked again |", "|---|---|---|",
                          *[f"| {name} | {_fmt(_new_question_median(h, name))} s | {_fmt(t['median'])} s "
                            f"({_fmt(t['min'])}–{_fmt(t['max'])}) |" for name, t in repeated.items()]]
            if str(h.get("llama_server", "")).startswith("not measured"):
                lines.append(f"- llama-server {h['llama_server']}")
    if "defaults" in s:
        lines += ["", "## Engine defaults and the figures behind them", "", _defaults_table(s["defaults"])]
    if "wait_policy" in s:
        lines += ["", "## OpenMP wait policy (ms per decode step; lower is better)", "", _wait_policy_table(s["wait_policy"])]
    return lines


def _new_question_median(h: dict[str, Any], name: str) -> float | None:
    keys = {"livemind": "livemind_ttft_s", "llama_cpp.server": "peer_ttft_s",
            "llama_cpp.server (defaults)": "default_peer_ttft_s"}
    t = h[keys[name]] if name in keys else (h.get("others") or {}).get(name, {}).get("ttft_s")
    return t["median"] if t else None


def _pair_line(section: dict[str, Any]) -> list[str]:
    """The ratio of each back-to-back pair: median, min and max (absent in documents from before it existed)."""
    per = section.get("ratio_per_pair")
    if not per:
        return []
    return [f"- ratio per pair: median {_fmt(per['median'])} (min {_fmt(per['min'])}, max {_fmt(per['max'])}, "
            f"{per['n']} pairs)"]


def _defaults_table(d: dict[str, Any]) -> str:
    def cell(x: dict[str, Any], key: str) -> str:
        span = x.get(f"{key}_range")  # absent in documents from before the repeats were alternated
        return f"{x[key]} ({span[0]}–{span[1]})" if span else str(x[key])

    repeats = d.get("repeats")
    rows = [f"Median of {repeats} repeats in rotated order (min–max)." if repeats else "", "",
            "| setting | value | prefill tok/s | decode tok/s |", "|---|---|---|---|"]
    for threads, x in d["threads"].items():
        rows.append(f"| threads | {threads} | {cell(x, 'prefill_tok_s')} | {cell(x, 'decode_tok_s')} |")
    for label, x in d["attention_and_kv"].items():
        rows.append(f"| KV · attention | {label} | {cell(x, 'prefill_tok_s')} | {cell(x, 'decode_tok_s')} |")
    for size, x in d["ubatch"].items():
        rows.append(f"| batch = ubatch | {size} | {cell(x, 'prefill_tok_s')} | {cell(x, 'decode_tok_s')} |")
    rows.append("")
    rows.append("| sequences in one batch | " + " | ".join(d["batch_width"]) + " |")
    rows.append("|---|" + "---|" * len(d["batch_width"]))
    rows.append("| decode tok/s, all sequences | " + " | ".join(str(v) for v in d["batch_width"].values()) + " |")
    return "\n".join(rows)


def _wait_policy_table(d: dict[str, Any]) -> str:
    first = next(iter(d["policies"].values()))["alone_ms"]
    widths = [w for w in first if "_" not in w]

    def cell(x: dict[str, float], w: str) -> str:
        return f"{x[w]} ({x[f'{w}_min']}–{x[f'{w}_max']})" if f"{w}_min" in x else str(x[w])

    head = " | ".join(f"{w} seq alone | {w} seq beside a 2nd process" for w in widths)
    rows = [f"| policy | {head} |", "|---|" + "---|---|" * len(widths)]
    for name, x in d["policies"].items():
        cells = " | ".join(f"{cell(x['alone_ms'], w)} | {cell(x['beside_ms'], w)}" for w in widths)
        rows.append(f"| {name} | {cells} |")
    repeats = f"; median of {d['repeats']} runs per condition, policies rotated (min–max)" if "repeats" in d else ""
    table = "\n".join(rows) + f"\n\n{d['model']}, {d['threads']} threads, median of {d['steps']} steps{repeats}."
    if d.get("two_teams"):  # absent in documents from before it was measured
        table += ("\n\nTwo OpenMP teams in one process (the prompt read in the main thread, the steps timed in "
                  "another, as when two models decode in turn):\n\n| policy | "
                  + " | ".join(f"{w} seq" for w in widths) + " |\n|---|" + "---|" * len(widths) + "\n"
                  + "\n".join(f"| {name} | " + " | ".join(cell(x, w) for w in widths) + " |"
                              for name, x in d["two_teams"].items()))
    return table
