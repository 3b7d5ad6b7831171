"""Debates on the real default models: end to end, turn-based under a small budget, resume after SIGKILL."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from livemind.config import LiveMindConfig, load_config
from livemind.council.strategies import WEIGHTED, tally, tally_positions
from livemind.engine.catalog import ModelCatalog
from livemind.orchestrator import LiveMind

pytestmark = pytest.mark.slow
QUESTION = "Can humans be replaced by AI within 20 years?"


def test_end_to_end_debate_records_agreement_every_round(home: Path, tiny_config: LiveMindConfig) -> None:
    mind = LiveMind(tiny_config, home=home)
    try:
        events = list(mind.stream(QUESTION, experts=["generalist", "ethicist", "coder"], rounds=1, mode="parallel",
                                  seed=11, max_tokens=48))
    finally:
        mind.close()
    result = events[-1].result
    assert result is not None and result.answer.strip()
    assert len(result.history) == result.rounds + 1 and all(0 <= h.agreement <= 1 for h in result.history)
    assert {p.expert for p in result.positions} == {"generalist", "ethicist", "coder"}
    assert [s.expert for s in result.routing.scores]  # every expert scored
    kinds = [e.kind for e in events]
    assert kinds.index("token") < kinds.index("round_done"), "tokens stream before the round ends"
    assert 0.0 <= result.agreement <= 1.0 and result.tokens > 0


def test_a_real_council_vote_weighs_each_answer_by_the_engines_own_confidence(home: Path,
                                                                             tiny_config: LiveMindConfig) -> None:
    mind = LiveMind(tiny_config, home=home)
    try:
        question = "What is 12 + 30? End with the line: Answer: N"
        result = mind.consensus(question, experts=["generalist", "ethicist", "coder"], strategy="vote", seed=3,
                                max_tokens=40, temperature=0.0)
        answer = mind.ask(question, expert="generalist", max_tokens=40, temperature=0.0)
    finally:
        mind.close()
    confidences = [p.mean_logprob for p in result.positions] + [answer.mean_logprob]
    assert all(c is not None and math.isfinite(c) and c <= 0.0 for c in confidences), confidences
    assert result.history[0].is_weighted, "every local expert reports a confidence, so the vote is weighted"
    assert result.vote_weighting in ("", WEIGHTED)  # "" when no reply held a number
    assert result.first_vote == tally([p.text for p in result.positions]).winner, "the control is a plain count"
    weighted = tally_positions(result.positions)
    if weighted.is_checkable:  # a tiny model may not state a number: nothing is asserted about its answers
        assert result.agreement == pytest.approx(weighted.share, abs=1e-4)


def test_the_default_council_debates_the_founding_question_with_one_shared_capable_model(
        home: Path, capable_config: LiveMindConfig) -> None:
    mind = LiveMind(capable_config, home=home)
    try:
        events = list(mind.stream(QUESTION, rounds=1, seed=3, max_tokens=40, selective=False))
        loads = [e for e in mind.pool.events if e.kind == "load"]
    finally:
        mind.close()
    result = events[-1].result
    assert result is not None and result.answer.strip() and result.synthesis_error is None
    assert len(result.routing.selected) >= 2, "a debate convenes a council, routed without naming anyone"
    assert {"ethicist", "futurist"} <= set(result.routing.selected)
    assert result.rounds == 1 and result.debate_triggered is True
    assert {p.expert for p in result.positions} == set(result.routing.selected)
    assert [e.model for e in loads] == ["qwen2.5-coder-1.5b"], "every persona speaks through one loaded copy"
    assert result.prompt_tokens > 0 and result.tokens > 0


def test_turn_based_debate_under_a_small_budget_holds_one_model_at_a_time(home: Path,
                                                                          tiny_config: LiveMindConfig) -> None:
    probe = LiveMind(tiny_config, home=home)
    sizes = [probe.pool.estimate(probe.runner.target_for(tiny_config.expert(n))).total
             for n in ("generalist", "futurist")]
    probe.close()
    budget = max(sizes) + min(sizes) // 2  # either model fits, both never do
    mind = LiveMind(tiny_config, home=home, ram_budget_bytes=budget)
    try:
        result = mind.debate(QUESTION, experts=["generalist", "futurist"], rounds=1, mode="parallel", seed=5,
                             max_tokens=32)
    finally:
        mind.close()
    assert result.mode == "turns" and "switched to turn-based" in result.mode_reason
    assert mind.pool.max_loaded_at_once == 1
    assert mind.pool.peak_pool_bytes <= budget
    assert any(e.kind == "evict" for e in mind.pool.events)
    assert {p.expert for p in result.positions} == {"generalist", "futurist"}


RUNNER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from livemind.config import load_config
    from livemind.engine.catalog import ModelCatalog
    from livemind.orchestrator import LiveMind
    home = Path(sys.argv[1])
    mind = LiveMind(load_config(None, ModelCatalog(home), council="tiny"), home=home)
    for event in mind.stream(sys.argv[2], experts=["generalist", "ethicist", "coder"], rounds=2, mode="parallel",
                             seed=9, max_tokens=40, session_id="killme"):
        if event.kind != "token":
            print(json.dumps({"kind": event.kind, "round": event.round, "expert": event.expert}), flush=True)
""")


@pytest.mark.fault(fault="SIGKILL mid-debate (real models), then `sessions resume`", simulated="",
                   kept="no finished round lost or redone; the debate finishes")
def test_debate_killed_mid_round_resumes_without_redoing_or_losing_rounds(home: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", RUNNER, str(home), QUESTION], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    seen: list[dict[str, object]] = []
    for line in process.stdout:  # ends when the child dies; the test timeout bounds it
        event = json.loads(line)
        seen.append(event)
        if event["kind"] == "expert_started" and event["round"] == 1:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert any(e["kind"] == "round_done" and e["round"] == 0 for e in seen)

    mind = LiveMind(load_config(None, ModelCatalog(home), council="tiny"), home=home)
    try:
        before = mind.graph.get_state({"configurable": {"thread_id": "killme"}}).values
        round0 = [p.text for p in before["history"][0].positions]  # the state holds typed values
        assert mind.session("killme").status in ("running", "interrupted")
        events = list(mind.resume("killme"))
        status_after = mind.session("killme").status
    finally:
        mind.close()
    result = events[-1].result
    assert result is not None
    started = [(e.expert, e.round) for e in events if e.kind == "expert_started"]
    assert all(r != 0 for _, r in started), f"round 0 was redone: {started}"
    assert [p.text for p in result.history[0].positions] == round0, "round 0 was lost or changed"
    assert [h.round for h in result.history] == list(range(len(result.history)))
    assert status_after == "done"
