"""The seed's rule: over the RAM limit, answer from an expert whose model is already loaded (`prefer_loaded`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from livemind.council.router import prefer_loaded
from livemind.engine.ram import MemoryReading
from livemind.types import RouteDecision, RouteScore
from tests.support.fakes import ScriptedLoader
from tests.support.faults import fault_config
from tests.support.minds import open_mind, stubborn

GiB = 2**30


def _decision(selected: tuple[str, ...], mode: str = "single") -> RouteDecision:
    scores = tuple(RouteScore(expert=e, score=s, best_match=f"about {e}") for e, s in
                   (("beta", 0.9), ("gamma", 0.5), ("alpha", 0.3)))
    return RouteDecision(scores=scores, selected=selected, mode=mode, reason="best match beta")  # type: ignore[arg-type]


def test_under_the_limit_or_with_the_model_loaded_the_routing_stands() -> None:
    decision = _decision(("beta",))
    assert prefer_loaded(decision, is_ready=lambda e: e == "alpha", ram_percent=80, limit_percent=90) == decision
    assert prefer_loaded(decision, is_ready=lambda e: True, ram_percent=95, limit_percent=90) == decision
    assert prefer_loaded(decision, is_ready=lambda e: False, ram_percent=95, limit_percent=90) == decision


def test_over_the_limit_the_best_loaded_expert_answers_and_the_reason_says_why() -> None:
    swapped = prefer_loaded(_decision(("beta",)), is_ready=lambda e: e in ("alpha", "gamma"), ram_percent=95,
                            limit_percent=90)
    assert swapped.selected == ("gamma",), "the best-scoring expert whose model is loaded"
    assert "RAM at 95% is over the 90% limit" in swapped.reason and "model of beta is not loaded" in swapped.reason
    assert "answered by gamma" in swapped.reason and "best match beta" in swapped.reason


def test_a_council_keeps_its_loaded_members() -> None:
    council = _decision(("beta", "gamma"), mode="parallel")
    kept = prefer_loaded(council, is_ready=lambda e: e == "gamma", ram_percent=93, limit_percent=90)
    assert kept.selected == ("gamma",)
    none_loaded = prefer_loaded(council, is_ready=lambda e: e == "alpha", ram_percent=93, limit_percent=90)
    assert none_loaded.selected == ("alpha",) and "convened" not in none_loaded.reason


@pytest.mark.parametrize("allowed", [True, False])
def test_livemind_answers_from_the_loaded_model_only_when_the_config_allows(tmp_path: Path, allowed: bool) -> None:
    loader = ScriptedLoader(stubborn)
    mind = open_mind(tmp_path, fault_config(tmp_path, pool={"prefer_loaded": allowed}), loader)
    try:
        mind.ask("warm up", expert="alpha", max_tokens=4)  # alpha's model (a.gguf) is now loaded
        real = mind.pool.guard.read()
        full = MemoryReading(total=real.total, used=int(real.total * 0.95), available=int(real.total * 0.05),
                             source="test")
        mind.pool.guard._reader = lambda: full  # the machine is now at 95%
        routed = mind.route("a question about beta", mode="single")
        if allowed:
            assert routed.selected == ("alpha",) and "prefer_loaded" in routed.reason
            answer = mind.ask("a question about beta", max_tokens=4)
            assert answer.expert == "alpha" and answer.routing is not None and "over the 90% limit" in answer.routing.reason
            council = mind.consensus("a question about beta and gamma")
            assert {p.expert for p in council.positions} == {"alpha"} and "prefer_loaded" in council.mode_reason
            assert [m.model for m in mind.status().loaded] == ["a"], "no second model was loaded"
        else:
            assert routed.selected == ("beta",)
    finally:
        mind.close()
