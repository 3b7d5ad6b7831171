"""The bench's PNG plots: matplotlib's object API, so no display and no global pyplot state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure


def write_plots(doc: dict[str, Any], out: Path) -> list[str]:
    """Write every plot the document has data for; return the file names."""
    written = []
    s = doc["sections"]
    for name, draw, needs in (("latency.png", _latency, "attribution"), ("batching.png", _batching, "consensus"),
                              ("round_tokens.png", _round_tokens, "debate_tokens"), ("defaults.png", _defaults, "defaults")):
        if needs not in s:
            continue
        draw(doc).savefig(out / name, dpi=110, bbox_inches="tight")
        written.append(name)
    return written


def _latency(doc: dict[str, Any]) -> Figure:
    """Each factor's speed-up with its range, and every configuration's latencies."""
    data = doc["sections"]["attribution"]
    fig = Figure(figsize=(10, 3.8))
    left, right = fig.subplots(1, 2)
    rows = [*data["factors"], {"factor": "all (measured)", "speedup": data["end_to_end_speedup"]}]
    medians = [r["speedup"]["median"] for r in rows]
    errors = [[m - r["speedup"]["min"] for m, r in zip(medians, rows, strict=True)],
              [r["speedup"]["max"] - m for m, r in zip(medians, rows, strict=True)]]
    ys = list(range(len(rows)))
    left.barh(ys, medians, xerr=errors, color=["C0"] * (len(rows) - 1) + ["C2"], capsize=4)
    left.axvline(1.0, color="grey", linewidth=0.8)
    left.set_yticks(ys, [r["factor"] for r in rows])
    left.invert_yaxis()
    left.set_xlabel("speed-up (median, min-max over runs)")
    left.set_title("where the speed comes from")
    names = list(data["configs"])
    for i, name in enumerate(names):
        runs = data["configs"][name]["latencies_s"]
        right.scatter([i] * len(runs), runs, alpha=0.6, color="C2" if name == "livemind_batched" else "C0")
    right.set_xticks(range(len(names)), [n.replace("_", "\n") for n in names], fontsize=7)
    right.set_ylabel("seconds for three personas")
    right.set_title("latency per configuration")
    fig.tight_layout()
    return fig


def _batching(doc: dict[str, Any]) -> Figure:
    s = doc["sections"]
    fig = Figure(figsize=(9, 3.6))
    left, right = fig.subplots(1, 2)
    c = s["consensus"]
    left.bar(["sequential", "batched"], [c["sequential_s"]["mean"], c["batched_s"]["mean"]],
             yerr=[c["sequential_s"]["stdev"], c["batched_s"]["stdev"]], color=["C0", "C2"], capsize=6)
    left.set_ylabel("seconds for three personas")
    left.set_title(f"consensus round (ratio {c['ratio']:.2f})" if c.get("ratio") else "consensus round")
    width = s.get("defaults", {}).get("batch_width", {})
    if width:
        xs = [int(k) for k in width]
        right.plot(xs, list(width.values()), marker="o")
        right.set_xticks(xs)
        right.set_xlabel("sequences in one batch")
        right.set_ylabel("decode tok/s, all sequences")
        right.set_title("batch width")
    return fig


def _round_tokens(doc: dict[str, Any]) -> Figure:
    d = doc["sections"]["debate_tokens"]
    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    runs = (("private_without_reuse", "own conversation, re-read", "C0"),
            ("private_with_reuse", "own conversation, KV kept", "C2"),
            ("shared_without_reuse", "shared transcript, re-read", "C1"),
            ("shared_with_reuse", "shared transcript, kept + copied", "C3"))
    xs = range(len(d["private_without_reuse"]["prompt_tokens_per_round"]))
    for k, (key, label, color) in enumerate(runs):
        values = d[key]["prompt_tokens_per_round"]
        ax.bar([x - 0.3 + 0.2 * k for x in xs[: len(values)]], values, width=0.2, label=label, color=color)
    ax.set_xticks(list(xs), [f"round {x + 1}" for x in xs])
    ax.set_ylabel("prompt tokens evaluated (3 experts)")
    ax.legend()
    return fig


def _defaults(doc: dict[str, Any]) -> Figure:
    d = doc["sections"]["defaults"]
    groups = [("threads", {f"{k} thread{'s' if k != '1' else ''}": v for k, v in d["threads"].items()}),
              ("KV cache and attention", d["attention_and_kv"]),
              ("batch = ubatch", {f"{k}": v for k, v in d["ubatch"].items()})]
    fig = Figure(figsize=(13, 3.6))
    axes = fig.subplots(1, len(groups))
    for ax, (title, rows) in zip(axes, groups, strict=True):
        labels = list(rows)
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], [rows[k]["prefill_tok_s"] for k in labels], width=0.4, label="prefill", color="C1")
        ax.bar([x + 0.2 for x in xs], [rows[k]["decode_tok_s"] for k in labels], width=0.4, label="decode", color="C2")
        ax.set_xticks(list(xs), labels, fontsize=8)
        ax.set_title(title)
        ax.set_ylabel("tok/s")
    axes[0].legend()
    return fig
