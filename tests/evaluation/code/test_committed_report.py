"""The committed HumanEval run rebuilds its report from the folder alone, and the report compares the `code`
strategy with the vote's pick of the same replies (the evidence behind `[debate] function_strategy`)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from livemind.cli.main import build_parser
from livemind.evaluation.scoring import mcnemar_p

RUN = Path(__file__).resolve().parents[3] / "docs" / "eval" / "humaneval-default"


def test_the_report_names_the_code_strategys_gain_over_the_vote_on_the_same_replies(tmp_path: Path) -> None:
    shutil.copytree(RUN, tmp_path / "run-copy", ignore=shutil.ignore_patterns(".locks"))
    out = tmp_path / "run-copy"
    args = build_parser().parse_args(["eval", "--task", "humaneval", "--report-only", "--methods",
                                      "single,council-greedy,samples,council-sampled", "--out", str(out)])
    assert args.func(args) == 0
    report = json.loads((out / "report.json").read_text())
    note = next(n for n in report["notes"] if n.startswith("The `code` strategy"))
    scores = {s["key"]: s["per_problem"] for s in report["scores"]}
    for temp in ("greedy", "sampled"):
        code, vote = scores[f"code-exec-{temp}"], scores[f"vote-{temp}"]
        gain = sum(1 for a, b in zip(code, vote, strict=True) if a and not b)
        loss = sum(1 for a, b in zip(code, vote, strict=True) if b and not a)
        shown = re.search(rf"{temp} \+(\d+)/−(\d+), p=([\d.e-]+?)[;.]?(?:$|;| )", note)
        assert shown is not None and (int(shown[1]), int(shown[2])) == (gain, loss)
        assert float(shown[3]) == float(f"{mcnemar_p(gain, loss):.3g}")
    assert report["n"] >= 99  # the committed run as of this test: it only grows
