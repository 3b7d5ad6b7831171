"""The report's figure: accuracy (with 95% intervals) against generated tokens per question."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from livemind.evaluation.scoring import MethodScore

MARKERS = {"single": "o", "sc_consensus": "v", "consensus": "s", "sc_debate": "^", "debate": "D"}


def plot_accuracy_vs_tokens(scores: Sequence[MethodScore], path: Path, *, title: str) -> Path:
    """Write a PNG with one point per method: x = tokens per question, y = accuracy with its interval."""
    # matplotlib takes about a second to import here; only the eval command should pay for it.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5), dpi=120, layout="constrained")
    axes = figure.add_subplot()
    for s in scores:
        below, above = max(0.0, 100 * (s.accuracy - s.ci_low)), max(0.0, 100 * (s.ci_high - s.accuracy))
        axes.errorbar([s.tokens_per_question], [100 * s.accuracy], yerr=[[below], [above]],
                      fmt=MARKERS.get(s.method, "o"), capsize=4, markersize=8, label=s.label)
    axes.set_xlabel("generated tokens per question")
    axes.set_ylabel("accuracy, % (95% Wilson interval)")
    axes.set_ylim(-2, 102)
    axes.set_xlim(left=0)
    axes.grid(alpha=0.3)
    axes.set_title(title)
    axes.legend(loc="best", fontsize="small")
    figure.savefig(path, format="png")
    return path
