"""The report's figure: accuracy (with 95% intervals) against generated tokens per question."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from livemind.errors import MissingExtraError
from livemind.evaluation.scoring import MethodScore

MARKERS = {"single": "o", "single_sampled": "h", "vote": "s", "sc_vote": "v", "select": "P", "sc_select": "x", "selective": "D",
           "sc_selective": "<", "debate": "*", "sc_debate": "^"}


def plot_accuracy_vs_tokens(scores: Sequence[MethodScore], path: Path, *, title: str) -> Path:
    """Write a PNG, one point per method: accuracy with its interval against generated (left) and prompt (right) tokens."""
    # matplotlib takes about a second to import here; only the eval command should pay for it.
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingExtraError("matplotlib", "bench", "the eval's plot") from exc

    figure = Figure(figsize=(12, 5.5), dpi=120, layout="constrained")
    panels = figure.subplots(1, 2, sharey=True)
    for axes, label, per_question in (
            (panels[0], "generated tokens per question", lambda s: s.tokens_per_question),
            (panels[1], "prompt tokens per question", lambda s: s.prompt_tokens / max(s.n, 1))):
        for s in scores:
            below, above = max(0.0, 100 * (s.accuracy - s.ci_low)), max(0.0, 100 * (s.ci_high - s.accuracy))
            axes.errorbar([per_question(s)], [100 * s.accuracy], yerr=[[below], [above]],
                          fmt=MARKERS.get(s.method, "o"), capsize=4, markersize=8, label=s.label)
        axes.set_xlabel(label)
        axes.set_ylim(-2, 102)
        axes.set_xlim(left=0)
        axes.grid(alpha=0.3)
    panels[0].set_ylabel("accuracy, % (95% Wilson interval)")
    figure.suptitle(title)
    panels[1].legend(loc="best", fontsize="x-small")
    figure.savefig(path, format="png")
    return path
