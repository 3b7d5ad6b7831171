"""pass_at_1.png: the HumanEval report's methods against their cost, each with its interval."""

from __future__ import annotations

import math
from pathlib import Path

from livemind.errors import MissingExtraError
from livemind.evaluation.code.records import CodeReport


def plot_code_report(report: CodeReport, path: Path) -> Path:
    """pass_at_1.png: every method's pass@1 with its interval, against generated tokens per problem."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingExtraError("matplotlib", "bench", "the eval's plot") from exc
    figure = Figure(figsize=(15, 6.5), dpi=120, layout="constrained")
    axes = figure.subplots()
    markers = {"one answer": "o", "mean over samples": "s", "oracle": "^"}
    colours = [f"tab:{c}" for c in ("blue", "orange", "green", "red", "purple", "brown", "pink", "gray", "olive", "cyan")]
    colours += ["black", "gold", "navy", "teal", "maroon", "indigo", "lime", "magenta", "sienna", "slateblue",
                "darkkhaki", "crimson", "darkcyan", "orchid"]
    for i, s in enumerate(report.scores):  # one colour each, up to 24 methods
        x = s.generated_tokens / max(s.n, 1)
        axes.errorbar([x], [100 * s.pass_at_1], yerr=[[100 * (s.pass_at_1 - s.ci_low)], [100 * (s.ci_high - s.pass_at_1)]],
                      fmt=markers.get(s.kind, "o"), capsize=4, markersize=7, label=s.label,
                      color=colours[i % len(colours)])
    axes.axhline(70.7, linestyle="--", color="grey", linewidth=1)
    axes.text(0, 71.2, "model card, Qwen2.5-Coder-1.5B-Instruct: 70.7%", fontsize="x-small", color="grey")
    axes.set_xlabel("generated tokens per problem")
    axes.set_ylabel("HumanEval pass@1, % (95% interval)")
    lowest = min((100 * s.ci_low for s in report.scores), default=0.0)
    axes.set_ylim(max(0.0, 10 * math.floor(lowest / 10) - 5), 100)
    axes.set_xlim(left=0)
    axes.grid(alpha=0.3)
    axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="x-small")
    figure.suptitle(f"HumanEval, {report.n} problems: methods against their cost")
    figure.savefig(path, format="png")
    return path
