"""The eval's scripted models read a request the same way in either debate prompt layout."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.evaluation.conftest import EXPERTS, ScriptedCouncil


@pytest.mark.parametrize("transcript", ["private", "shared"])
def test_the_fakes_tell_first_answers_revisions_and_synthesis_apart_in_both_layouts(
        scripted_council: Callable[..., ScriptedCouncil], transcript: str) -> None:
    council = scripted_council()
    council.mind.debate("What is the result of 3+4*2?", experts=list(EXPERTS), rounds=2, mode="parallel", seed=5,
                        selective=False, transcript=transcript)
    asked = [(t.kind, t.expert, t.round, t.key) for t in council.turns if t.kind != "warm-up"]
    firsts = [(k, e, r) for k, e, r, _ in asked if k == "first"]
    revisions = [(k, e, r) for k, e, r, _ in asked if k == "revision"]
    assert sorted(firsts) == [("first", e, 0) for e in EXPERTS]
    assert revisions and {e for _, e, _ in revisions} == set(EXPERTS)
    assert {r for _, _, r in revisions} <= {1, 2} and 1 in {r for _, _, r in revisions}
    assert [k for k, *_ in asked].count("synthesis") == 1
    assert {key for *_, key in asked} == {11}
