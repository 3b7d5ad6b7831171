"""The graph state holds typed values, and they survive the SQLite checkpointer: a session interrupted mid-debate
resumes in a new LiveMind from typed checkpoints, with no serializer warning. A JSON caller of the bare graph still
sends plain objects."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph.checkpoint.serde.event_hooks import SerdeEvent, register_serde_event_listener

from livemind.council.graph import run_config
from livemind.council.options import CouncilOptions
from livemind.engine.backends.base import LoadTarget
from livemind.errors import SessionError
from livemind.types import DroppedExpert, GenerationRequest, Position, RoundRecord, RouteDecision
from tests.support.minds import answer_round, is_synthesis, scripted, stubborn


class EngineFault(RuntimeError):
    """Not a LiveMindError: the node fails and the run stops, as when the process dies mid-round."""


@pytest.fixture
def serde_events() -> Iterator[list[SerdeEvent]]:
    """Every allowlist event of LangGraph's serializer (not deduplicated, unlike its log warnings)."""
    events: list[SerdeEvent] = []
    unregister = register_serde_event_listener(events.append)
    yield events
    unregister()


def test_an_interrupted_debate_resumes_from_typed_checkpoints_without_redoing_a_round(
        tmp_path: Path, serde_events: list[SerdeEvent], caplog: pytest.LogCaptureFixture) -> None:
    def failing_in_round_one(target: LoadTarget, request: GenerationRequest) -> str:
        if answer_round(request) == 1 and not is_synthesis(request):
            raise EngineFault("the engine died in round 1")
        return stubborn(target, request)

    first, _ = scripted(tmp_path, failing_in_round_one)
    with pytest.raises(EngineFault):
        first.debate("q", experts=["alpha", "beta"], rounds=1, mode="parallel", session_id="cut")
    first.close()

    asked: list[GenerationRequest] = []

    def recording(target: LoadTarget, request: GenerationRequest) -> str:
        asked.append(request)
        return stubborn(target, request)

    second, _ = scripted(tmp_path, recording)
    with caplog.at_level(logging.WARNING):
        saved = second.graph.get_state(run_config("cut")).values
        assert isinstance(saved["options"], CouncilOptions) and isinstance(saved["routing"], RouteDecision)
        assert saved["positions"] and all(isinstance(p, Position) for p in saved["positions"])
        assert all(isinstance(h, RoundRecord) for h in saved["history"])
        events = list(second.resume("cut"))
    result = events[-1].result  # type: ignore[union-attr]
    second.close()
    assert [h.round for h in result.history] == [0, 1]
    assert all(answer_round(r) == 1 or is_synthesis(r) for r in asked), "round 0 was not answered again"
    assert {p.expert for p in result.positions} == {"alpha", "beta"} and result.answer
    assert serde_events == [], "every class in the state is one the checkpointer names"
    assert not [r for r in caplog.records if "serializ" in r.getMessage().lower()]


def test_a_dropped_expert_is_kept_typed_in_the_state(tmp_path: Path) -> None:
    def beta_fails(target: LoadTarget, request: GenerationRequest) -> str:
        return "" if "You are beta" in request.messages[0].content else stubborn(target, request)

    mind, _ = scripted(tmp_path, beta_fails)
    result = mind.consensus("q", experts=["alpha", "beta"], session_id="drop")
    dropped = mind.graph.get_state(run_config("drop")).values["dropped"]
    mind.close()
    assert dropped == [DroppedExpert(expert="beta", round=0, reason="the expert returned an empty answer")]
    assert result.dropped == tuple(dropped)


def test_a_json_caller_of_the_bare_graph_sends_plain_objects_and_gets_json_back(tmp_path: Path) -> None:
    mind, _ = scripted(tmp_path, stubborn)
    inputs = {"question": "q", "session_id": "json", "options": {"mode": "parallel", "experts": ["alpha", "beta"],
                                                                  "rounds": 0, "strategy": "vote"}}
    chunks = list(mind.graph.stream(inputs, run_config("json"), context=mind.runtime, stream_mode="values"))
    mind.close()
    final = chunks[-1]
    assert isinstance(final["options"], CouncilOptions) and final["options"].strategy == "vote"
    assert isinstance(final["result"], dict) and final["result"]["session_id"] == "json"
    assert {p["expert"] for p in final["result"]["positions"]} == {"alpha", "beta"}


def test_a_session_saved_with_json_state_by_an_older_livemind_is_refused_on_resume_saying_what_to_do(
        tmp_path: Path) -> None:
    def failing_in_round_one(target: LoadTarget, request: GenerationRequest) -> str:
        if answer_round(request) == 1:
            raise EngineFault("the engine died in round 1")
        return stubborn(target, request)

    mind, _ = scripted(tmp_path, failing_in_round_one)
    with pytest.raises(EngineFault):
        mind.debate("q", experts=["alpha", "beta"], rounds=1, mode="parallel", session_id="old")
    config = run_config("old")
    options = mind.graph.get_state(config).values["options"]
    # what the older graph stored; written as the last node's update, so no edge reads it here
    mind.graph.update_state(config, {"options": options.model_dump(mode="json")}, as_node="synthesize")
    with pytest.raises(SessionError, match="older LiveMind") as refused:
        list(mind.resume("old"))
    mind.close()
    assert "livemind sessions replay old" in str(refused.value.hint)
