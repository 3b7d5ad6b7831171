"""A HumanEval run folder resumes only with the settings it started with, and says which differ."""

from __future__ import annotations

from pathlib import Path

import pytest

from livemind.errors import InvalidRequestError
from livemind.evaluation.code.records import CodeEvalSettings, CodePlan
from livemind.evaluation.code.store import CodeRunStore


def test_a_run_resumes_with_its_settings_and_refuses_others_naming_them(tmp_path: Path) -> None:
    settings = CodeEvalSettings(samples=4)
    plan = CodePlan(settings=settings, pilot_ids=("HumanEval/3",), scored_ids=("HumanEval/0",), council=("a", "b"),
                    council_reason="given", best_expert="a", expert_reason="given", temperature=0.8,
                    temperature_reason="given", pilot=(), pilot_seconds=0.0, models={"a": "m"}, machine="x",
                    started_at="2026-12-07T00:00:00+00:00")
    store = CodeRunStore(tmp_path)
    store.save_plan(plan)
    assert store.plan(settings) == plan
    with pytest.raises(InvalidRequestError, match=r"samples, seed differ") as refused:
        store.plan(CodeEvalSettings(samples=8, seed=1))
    assert "only --methods may change" in (refused.value.hint or "")
