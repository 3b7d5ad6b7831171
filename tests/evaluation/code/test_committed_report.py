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


def _raw_pool(problem: Path) -> list[dict]:
    """Every persona's greedy first answer and every sample, read straight from the stored JSON (one per persona)."""
    by_persona: dict[str, dict] = {}
    for method in ("single", "council-greedy", "personas-greedy"):
        for c in json.loads((problem / f"{method}.json").read_text())["candidates"]:
            if int(c["round"]) == 0:
                by_persona.setdefault(c["expert"], c)
    return [*by_persona.values(), *json.loads((problem / "samples.json").read_text())["candidates"]]


def test_the_pool_row_is_code_consensus_over_every_persona_and_every_sample_stored(tmp_path: Path) -> None:
    from livemind.council.code.evidence import Evidence
    from livemind.council.code.selection import select_by_execution

    shutil.copytree(RUN, tmp_path / "run-copy", ignore=shutil.ignore_patterns(".locks"))
    out = tmp_path / "run-copy"
    methods = "single,council-greedy,samples,council-sampled,personas-greedy"
    args = build_parser().parse_args(["eval", "--task", "humaneval", "--report-only", "--methods", methods, "--out", str(out)])
    assert args.func(args) == 0
    report = json.loads((out / "report.json").read_text())
    scores = {s["key"]: s for s in report["scores"]}
    pool, oracle = scores["pool-exec"], scores["oracle-pool"]
    assert any(n.startswith("The pool rows") for n in report["notes"])  # its post-hoc status is stated
    for task_id, shown, ceiling in zip(report["problems"], pool["per_problem"], oracle["per_problem"], strict=True):
        cs = _raw_pool(out / "run" / "problems" / task_id.replace("/", "_"))
        assert len(cs) == 5 + 4  # five personas, four samples
        chosen = select_by_execution([Evidence.model_validate(c["evidence"]) for c in cs],
                                     [c["mean_logprob"] for c in cs]).chosen
        assert shown == float(chosen is not None and cs[chosen]["official"] == "passed"), task_id
        assert ceiling == float(any(c["official"] == "passed" for c in cs)) and shown <= ceiling, task_id
