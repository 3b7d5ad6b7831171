"""The live `code` strategy picks what `livemind eval --task humaneval` scored as "council, execution-selected".

The committed HumanEval run (docs/eval/humaneval-default) keeps every council reply and the evidence the
eval chose from. Here the plug-in's pick reads the same replies afresh (the question as the council
was asked it, each program run again in the real sandbox) and must choose the same candidate. So the
eval's figure for that row is a measurement of what a user's `consensus` on a function question runs.
Only problems whose first answers behave differently are replayed: elsewhere any pick is the same.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from livemind.council.code.pick import Reply, pick_by_execution
from livemind.council.code.selection import select_by_execution
from livemind.evaluation.code.problems import load_humaneval
from livemind.evaluation.code.runner import code_prompt
from livemind.evaluation.code.store import CodeRunStore

RUN = Path(__file__).resolve().parents[3] / "docs" / "eval" / "humaneval-default"
PROBLEMS = {p.task_id: p for p in load_humaneval()}


def _contested(method: str) -> list[str]:
    store, found = CodeRunStore(RUN), []
    for task_id in sorted(PROBLEMS, key=lambda t: int(t.split("/")[1])):
        run = store.method(task_id, method)
        if run is not None and len({c.evidence.behaviour for c in run.candidates if c.round == 0}) > 1:
            found.append(task_id)
    return found[:12]


@pytest.mark.parametrize("method", ["council-greedy", "council-sampled"])
def test_the_live_pick_chooses_the_candidate_the_eval_scored(method: str) -> None:
    contested = _contested(method)
    assert len(contested) >= 6, "the committed run should hold problems whose candidates behave differently"
    store = CodeRunStore(RUN)
    for task_id in contested:
        run = store.method(task_id, method)
        assert run is not None
        first = [c for c in run.candidates if c.round == 0]
        scored = select_by_execution([c.evidence for c in first], [c.mean_logprob for c in first]).chosen
        live = pick_by_execution(code_prompt(PROBLEMS[task_id]), [
            Reply(expert=c.expert, text=c.text, finish_reason=c.finish_reason, mean_logprob=c.mean_logprob)
            for c in first])
        assert live.chosen == scored, f"{task_id} ({method}): live pick {live.chosen}, eval's {scored}"
