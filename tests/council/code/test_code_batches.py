"""LiveMind.code's candidates name one group, so the scheduler decodes them as one batch (issue 30)."""

from __future__ import annotations

from pathlib import Path

from livemind.engine.backends.base import LoadTarget
from livemind.types import GenerationRequest
from tests.support.minds import EXPERTS, scripted


def test_every_candidate_of_one_code_consensus_names_the_same_group(tmp_path: Path) -> None:
    groups: list[str | None] = []

    def writer(target: LoadTarget, request: GenerationRequest) -> str:
        groups.append(request.batch_group)
        return "```python\ndef double(x):\n    return 2 * x\n```"

    mind, _ = scripted(tmp_path, writer)
    try:
        first = mind.code("Double a number.", signature="def double(x):", tests="assert double(2) == 4",
                          experts=list(EXPERTS))
        second = mind.code("Double a number.", signature="def double(x):", experts=list(EXPERTS[:2]))
        plain = mind.ask("Hi", expert=EXPERTS[0])
    finally:
        mind.close()
    assert first.answer and second.answer
    assert len(groups) == 6 and all(g is not None and g.startswith("code-") for g in groups[:5]), groups
    assert len(set(groups[:3])) == 1 and len(set(groups[3:5])) == 1 and groups[0] != groups[3], "one group a call"
    assert plain.answer and groups[-1] is None, "a plain ask names none"
