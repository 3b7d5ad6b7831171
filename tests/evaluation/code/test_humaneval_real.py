"""`livemind eval --task humaneval` on the real default model: three problems, resumable, every figure in bounds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livemind.cli.main import build_parser
from livemind.errors import InvalidRequestError


def _eval(models_home: Path, out: Path) -> int:
    args = build_parser().parse_args([
        "--home", str(models_home), "--council", "default", "eval", "--task", "humaneval", "--n", "3",
        "--pilot", "1", "--samples", "2", "--best-expert", "coder", "--temperature", "0.8",
        "--experts", "coder,generalist", "--methods", "single,samples,council-greedy", "--max-tokens", "512",
        "--out", str(out)])
    return int(args.func(args))


@pytest.mark.slow
def test_three_problems_run_score_and_resume_without_generating_again(models_home: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert _eval(models_home, tmp_path) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["n"] == 3 and len(report["problems"]) == 3
    assert "HumanEval/0" not in report["plan"]["pilot_ids"] or "HumanEval/0" not in report["problems"]
    scores = {s["key"]: s for s in report["scores"]}
    assert {"single", "single-sampled", "sc-exec", "oracle-samples", "vote-greedy", "code-exec-greedy",
            "oracle-council"} <= set(scores)
    for s in scores.values():
        assert 0.0 <= s["ci_low"] <= s["pass_at_1"] <= s["ci_high"] <= 1.0
        assert 0 <= s["cut_off"] <= s["candidates"]
    assert scores["oracle-samples"]["pass_at_1"] >= scores["sc-exec"]["pass_at_1"]
    assert scores["single"]["generated_tokens"] > 0 and scores["single"]["candidates"] == 3
    assert scores["single-sampled"]["candidates"] == 6
    assert (tmp_path / "report.md").read_text().startswith("# HumanEval through LiveMind: 3 problems")
    assert (tmp_path / "pass_at_1.png").stat().st_size > 0
    units = json.loads((tmp_path / "run" / "parts.json").read_text())["parts"][0]["units"]
    assert units == 9  # 3 problems x 3 methods

    assert _eval(models_home, tmp_path) == 0  # resumed: nothing left to generate
    parts = json.loads((tmp_path / "run" / "parts.json").read_text())["parts"]
    assert [p["units"] for p in parts] == [9, 0]
    assert json.loads((tmp_path / "report.json").read_text())["scores"] == report["scores"]

    (tmp_path / "report.json").unlink()  # rebuilt from the folder alone, without loading a model
    args = build_parser().parse_args(["eval", "--task", "humaneval", "--report-only", "--methods",
                                      "single,samples,council-greedy", "--out", str(tmp_path)])
    assert args.func(args) == 0
    assert json.loads((tmp_path / "report.json").read_text())["scores"] == report["scores"]
    capsys.readouterr()


def test_report_only_on_a_folder_without_a_run_says_what_to_do(tmp_path: Path) -> None:
    args = build_parser().parse_args(["eval", "--task", "humaneval", "--report-only", "--out", str(tmp_path)])
    with pytest.raises(InvalidRequestError, match="no HumanEval run"):
        args.func(args)
