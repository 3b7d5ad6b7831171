"""The LangGraph state machine over scripted backends: fan-out, rounds, stops, fallbacks, drops."""

from __future__ import annotations

from pathlib import Path

import pytest

from livemind.engine.backends.base import LoadTarget
from livemind.errors import EngineError
from livemind.types import GenerationRequest
from tests.support.minds import EXPERTS, answer_round, is_synthesis, scripted, speaker, stubborn


def test_parallel_first_answers_are_independent(tmp_path: Path) -> None:
    prompts: list[GenerationRequest] = []

    def script(target: LoadTarget, request: GenerationRequest) -> str:
        prompts.append(request)
        return stubborn(target, request)

    mind, _ = scripted(tmp_path, script)
    result = mind.debate("question about everything", experts=list(EXPERTS), rounds=0, mode="parallel")
    first = [p for p in prompts if not is_synthesis(p)]
    assert len(first) == 3
    for request in first:
        text = " ".join(m.content for m in request.messages)
        assert not any(f"{other} believes" in text for other in EXPERTS), "no expert sees another's first answer"
    assert result.mode == "parallel" and result.rounds == 0
    assert {p.expert for p in result.positions} == set(EXPERTS)


def test_debate_records_agreement_every_round_and_stops_at_the_maximum(tmp_path: Path) -> None:
    mind, _ = scripted(tmp_path, stubborn)
    result = mind.debate("q", experts=list(EXPERTS), rounds=2, mode="parallel")
    assert [h.round for h in result.history] == [0, 1, 2]
    assert all(0.0 <= h.agreement <= 1.0 for h in result.history)
    assert result.rounds == 2 and "maximum of 2 rounds" in result.stop_reason
    assert result.answer == "synthesised answer combining everyone"
    assert result.synthesis_error is None


def test_revision_rounds_show_the_others_under_anonymous_labels(tmp_path: Path) -> None:
    prompts: list[GenerationRequest] = []

    def script(target: LoadTarget, request: GenerationRequest) -> str:
        prompts.append(request)
        return stubborn(target, request)

    mind, _ = scripted(tmp_path, script)
    mind.debate("q", experts=list(EXPERTS), rounds=1, mode="parallel")
    revision = next(p for p in prompts if answer_round(p) == 1 and not is_synthesis(p) and speaker(p) == "alpha")
    last = revision.messages[-1].content
    assert "Expert B: beta believes" in last and "Expert C: gamma believes" in last
    assert "alpha believes" not in last, "an expert is not shown its own answer as someone else's"


def test_debate_stops_early_when_the_experts_agree(tmp_path: Path) -> None:
    def agree(target: LoadTarget, request: GenerationRequest) -> str:
        return "the answer is forty two" if not is_synthesis(request) else "forty two"

    mind, _ = scripted(tmp_path, agree)
    result = mind.debate("q", experts=list(EXPERTS), rounds=3, mode="parallel")
    assert result.rounds == 0 and result.stop_reason.startswith("first answers agree")
    assert result.debate_triggered is False and result.trigger_reason == result.stop_reason
    assert result.agreement == pytest.approx(1.0)


def test_debate_stops_when_nobody_changes_their_answer(tmp_path: Path) -> None:
    def fixed(target: LoadTarget, request: GenerationRequest) -> str:
        who = speaker(request)
        return f"{who} thinks {who} {who}" if not is_synthesis(request) else "mixed"

    mind, _ = scripted(tmp_path, fixed)
    result = mind.debate("q", experts=list(EXPERTS), rounds=3, mode="parallel")
    assert result.rounds == 1 and result.stop_reason == "no expert changed its answer"


def test_synthesis_failure_falls_back_to_the_most_central_position(tmp_path: Path) -> None:
    def broken_synth(target: LoadTarget, request: GenerationRequest) -> str:
        if is_synthesis(request):
            raise EngineError("scripted synthesiser crash")
        who = speaker(request)
        return {"alpha": "red green blue", "beta": "red green yellow", "gamma": "red purple orange"}[who]

    mind, _ = scripted(tmp_path, broken_synth)
    result = mind.debate("q", experts=list(EXPERTS), rounds=0, mode="parallel")
    assert result.synthesis_error is not None and "scripted synthesiser crash" in result.synthesis_error
    assert result.synthesizer.startswith("fallback: most central position")
    assert result.answer in {"red green blue", "red green yellow"}


def test_an_expert_failing_mid_debate_is_dropped_and_the_rest_continue(tmp_path: Path) -> None:
    def gamma_breaks(target: LoadTarget, request: GenerationRequest) -> str:
        if not is_synthesis(request) and speaker(request) == "gamma" and answer_round(request) == 1:
            raise EngineError("gamma's engine died")
        return stubborn(target, request)

    mind, _ = scripted(tmp_path, gamma_breaks, quorum=2)
    result = mind.debate("q", experts=list(EXPERTS), rounds=2, mode="parallel")
    assert [(d.expert, d.round) for d in result.dropped] == [("gamma", 1)]
    assert "gamma's engine died" in result.dropped[0].reason
    assert {p.expert for p in result.positions} == {"alpha", "beta"}
    assert result.rounds == 2


def test_losing_the_quorum_stops_the_debate_and_says_so(tmp_path: Path) -> None:
    def two_break(target: LoadTarget, request: GenerationRequest) -> str:
        if not is_synthesis(request) and speaker(request) in ("beta", "gamma") and answer_round(request) == 1:
            raise EngineError("down")
        return stubborn(target, request)

    mind, _ = scripted(tmp_path, two_break, quorum=2)
    result = mind.debate("q", experts=list(EXPERTS), rounds=2, mode="parallel")
    assert result.stop_reason.startswith("quorum lost")
    assert result.answer.startswith("alpha believes")


def test_models_that_do_not_fit_together_switch_the_graph_to_turns(tmp_path: Path) -> None:
    MiB = 2**20
    mind, _ = scripted(tmp_path, stubborn, budget=400 * MiB,
                         sizes={"smollm2-135m": 300 * MiB, "gemma3-270m": 300 * MiB},
                         models={"beta": "gemma3-270m"})
    result = mind.debate("q", experts=list(EXPERTS), rounds=1, mode="parallel")
    assert result.mode == "turns"
    assert "switched to turn-based" in result.mode_reason
    assert mind.pool.max_loaded_at_once == 1
    assert mind.pool.peak_pool_bytes <= 400 * MiB


def test_turn_based_answers_see_the_answers_so_far(tmp_path: Path) -> None:
    prompts: list[GenerationRequest] = []

    def script(target: LoadTarget, request: GenerationRequest) -> str:
        prompts.append(request)
        return stubborn(target, request)

    mind, _ = scripted(tmp_path, script)
    mind.debate("q", experts=list(EXPERTS), rounds=0, mode="turns")
    first_round = [p for p in prompts if not is_synthesis(p)]
    assert "alpha believes" not in first_round[0].messages[-1].content
    assert "alpha believes" in first_round[1].messages[-1].content
    assert "beta believes" in first_round[2].messages[-1].content


def test_tokens_arrive_on_the_stream_before_the_debate_ends(tmp_path: Path) -> None:
    mind, _ = scripted(tmp_path, stubborn)
    kinds = [e.kind for e in mind.stream("q", experts=list(EXPERTS), rounds=1, mode="parallel")]
    assert kinds[-1] == "result"
    assert "token" in kinds and kinds.index("token") < kinds.index("round_done")
    assert kinds.count("round_done") == 2


def test_same_seed_replays_the_same_session(tmp_path: Path) -> None:
    mind, _ = scripted(tmp_path, stubborn)
    first = mind.debate("q", experts=list(EXPERTS), rounds=1, mode="parallel", seed=7)
    again = mind.replay(first.session_id)
    assert again.session_id != first.session_id
    assert [p.text for p in again.positions] == [p.text for p in first.positions]
    assert again.seed == 7


def test_sessions_are_listed_with_their_results(tmp_path: Path) -> None:
    mind, _ = scripted(tmp_path, stubborn)
    result = mind.debate("what is listed", experts=["alpha", "beta"], rounds=0, mode="parallel")
    records = mind.list_sessions()
    assert records[0].session_id == result.session_id and records[0].status == "done"
    assert (tmp_path / "transcripts" / f"{result.session_id}.md").read_text().startswith("# LiveMind session")
