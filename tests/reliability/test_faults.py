"""Faults injected into a running LiveMind, each asserting what the user keeps.

Real model files (truncated, corrupt, not GGUF, scrambled, deleted, too big for the budget) are
served by `livemind serve` itself (the `fault_server` fixture). Faults inside a debate (a load
that fails mid-debate, an expert or a synthesiser that stalls, RAM running out between rounds)
are injected at the Backend seam under the real pool, RAM guard, graph and orchestrator.
Disk faults are in test_disk_faults.py. SIGKILL mid-debate and resume is
tests/council/test_debate_real.py; SIGTERM drains are in test_drain.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from livemind.engine.ram import RamGuard
from livemind.errors import RamBudgetExceeded
from livemind.types import DebateResult
from tests.support.fakes import ScriptedLoader
from tests.support.faults import EXPERTS, FlakyLoader, MemoryMeter, MiB, StallingLoader, fault_config, persona_of, round_of
from tests.support.minds import is_synthesis, open_mind, stubborn
from tests.support.recording import Record
from tests.support.servers import REPO, ServerProcess, clean_env

REQUEST_S = 300.0


def _chat(model: str, content: str, **fields: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **fields}


def _post(server: ServerProcess, path: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{server.base_url}{path}", json=body, timeout=REQUEST_S)


def _status(server: ServerProcess) -> dict[str, Any]:
    return httpx.get(f"{server.base_url}/v1/livemind/status", timeout=60).json()


def _generalist_still_answers(server: ServerProcess) -> None:
    response = _post(server, "/v1/chat/completions", _chat("generalist", "Say hello.", max_tokens=4))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] is not None


# -- broken model files, real engine ------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize(("expert", "says"), [
    ("truncated", "cannot read model metadata from"),
    ("corrupt", "cannot read model metadata from"),
    ("notgguf", "not a GGUF file"),
    ("vanishing", "model file missing"),
])
@pytest.mark.fault(simulated="",
                   fault="model file {expert}", kept="clear 503 naming the file; other experts answer")
def test_a_broken_model_file_gets_a_clear_503_and_the_other_experts_still_serve(
        fault_server: ServerProcess, record: Record, expert: str, says: str) -> None:
    response = _post(fault_server, "/v1/chat/completions", _chat(expert, "Name a colour.", max_tokens=4))
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "model_unavailable"
    assert says in error["message"] and f"{expert}.gguf" in error["message"], error
    assert any(fix in error["hint"] for fix in ("re-download", "check the path")), error
    _generalist_still_answers(fault_server)
    assert httpx.get(f"{fault_server.base_url}/health", timeout=30).status_code == 200


@pytest.mark.slow
@pytest.mark.fault(simulated="", fault="council with 3 unusable experts of 5",
                   kept="answer from the 2 good experts; each drop recorded with its reason")
def test_a_council_with_broken_experts_answers_from_the_good_ones_and_records_why(
        fault_server: ServerProcess, record: Record) -> None:
    body = {"question": "Name a colour.", "experts": ["generalist", "coder", "truncated", "vanishing", "futurist"],
            "max_tokens": 8, "stream": False}
    response = _post(fault_server, "/v1/livemind/consensus", body)
    assert response.status_code == 200, response.text
    result = DebateResult.model_validate(response.json())
    assert {p.expert for p in result.positions} == {"generalist", "coder"}
    assert result.answer.strip()
    reasons = {d.expert: d.reason for d in result.dropped}
    assert set(reasons) == {"truncated", "vanishing", "futurist"}, reasons
    assert "cannot read model metadata" in reasons["truncated"]
    assert "model file missing" in reasons["vanishing"]
    assert "RAM budget exceeded loading 'gemma3-270m'" in reasons["futurist"] and "MiB" in reasons["futurist"]


@pytest.mark.slow
@pytest.mark.fault(simulated="",
                   fault="model file with scrambled weights", kept="server up; other experts answer")
def test_a_scrambled_model_never_takes_the_server_down(fault_server: ServerProcess, record: Record) -> None:
    # Header intact, weights noise: nothing short of a checksum can tell. The engine must still
    # return (junk or nothing), and every other expert must keep working.
    response = _post(fault_server, "/v1/chat/completions", _chat("scrambled", "Name a colour.", max_tokens=6))
    assert response.status_code in (200, 503), response.text
    assert fault_server.process.poll() is None
    _generalist_still_answers(fault_server)


@pytest.mark.slow
@pytest.mark.fault(simulated="", fault="model larger than the RAM budget",
                   kept="503 with needed/available/limit, no Retry-After (it can never fit); the warm model stays loaded")
def test_a_model_over_the_budget_is_refused_with_the_numbers_and_the_warm_model_stays(
        fault_server: ServerProcess, fault_budget: dict[str, int], record: Record) -> None:
    _generalist_still_answers(fault_server)  # SmolLM2 is loaded and idle now
    response = _post(fault_server, "/v1/chat/completions", _chat("futurist", "Will robots take jobs?", max_tokens=4))
    assert response.status_code == 503, response.text
    # Gemma alone needs more than the whole budget: waiting cannot help, so no Retry-After, and SDKs are told not to retry
    assert "retry-after" not in response.headers and response.headers["x-should-retry"] == "false"
    error = response.json()["error"]
    needed, budget = fault_budget["gemma3-270m"] // MiB, fault_budget["budget"] // MiB
    assert error["code"] == "model_exceeds_ram_limit"
    assert "retrying will not help" in error["message"] and "LIVEMIND_RAM_BUDGET" in error["hint"]
    assert f"needs {needed} MiB" in error["message"] or f"needs {needed + 1} MiB" in error["message"], error
    assert f"limit of {budget} MiB" in error["message"] or f"limit of {budget + 1} MiB" in error["message"], error
    pool = _status(fault_server)["pool"]
    assert [m["model"] for m in pool["loaded"]] == ["smollm2-135m"], "a load that cannot fit evicted nothing"
    assert pool["pool_bytes"] <= pool["budget_bytes"]


@pytest.mark.slow
def test_serve_refuses_to_start_with_a_missing_model_file_and_names_expert_field_and_path(
        tmp_path: Path, models_home: Path) -> None:
    (tmp_path / "models").symlink_to(models_home / "models", target_is_directory=True)
    config = tmp_path / "experts.toml"
    missing = tmp_path / "gone.gguf"
    config.write_text(f'[[experts]]\nname = "ghost"\nmodel = "{missing}"\npersona = "p"\ndescription = "d"\n'
                      '[router]\nfallback = "ghost"\n[debate]\nsynthesizer = "ghost"\n', encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "livemind.cli.main", "serve", "--port", "1"], cwd=REPO,
                          env=clean_env(LIVEMIND_HOME=str(tmp_path), LIVEMIND_CONFIG=str(config)),
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"expert 'ghost', field 'model': model file missing: {missing}" in done.stderr, done.stderr[-2000:]


# -- faults inside a debate (Backend seam) ------------------------------------------------------

@pytest.mark.fault(simulated="scripted engine whose model load raises",
                   fault="model load failing mid-debate", kept="expert dropped and recorded; quorum finishes")
def test_a_model_failing_to_load_mid_debate_drops_its_expert_and_the_quorum_goes_on(
        tmp_path: Path, record: Record) -> None:
    # One model in RAM at a time: every turn loads its expert's model again. gamma's file goes
    # bad after its first load, so gamma answers round 0 and fails to load in round 1.
    loader = FlakyLoader(stubborn, fail_from={"c": 1})
    mind = open_mind(tmp_path, fault_config(tmp_path, pool={"max_warm": 1}, quorum=2), loader)
    try:
        result = mind.debate("q", experts=list(EXPERTS), rounds=2, mode="turns")
    finally:
        mind.close()
    assert [(d.expert, d.round) for d in result.dropped] == [("gamma", 1)]
    assert "could not load /models/c.gguf" in result.dropped[0].reason
    assert [h.round for h in result.history] == [0, 1, 2], "the quorum of two went on to the last round"
    assert {p.expert for p in result.history[0].positions} == set(EXPERTS)
    assert {p.expert for p in result.positions} == {"alpha", "beta"}
    assert result.answer == "synthesised answer combining everyone"
    assert [e.kind for e in mind.pool.events].count("load_failed") == 1


@pytest.mark.fault(simulated="scripted engine whose model loads raise",
                   fault="every expert's model failing in a revision round",
                   kept="the last finished round's answers and a central answer")
def test_when_every_expert_drops_in_a_revision_round_the_last_finished_answers_are_returned(
        tmp_path: Path, record: Record) -> None:
    loader = FlakyLoader(stubborn, fail_from={"a": 1, "b": 1, "c": 1})
    mind = open_mind(tmp_path, fault_config(tmp_path, pool={"max_warm": 1}), loader)
    try:
        result = mind.debate("q", experts=list(EXPERTS), rounds=2, mode="turns")
    finally:
        mind.close()
    assert {d.expert for d in result.dropped} == set(EXPERTS) and {d.round for d in result.dropped} == {1}
    assert result.stop_reason == "no expert answered"
    round0 = {p.expert: p.text for p in result.history[0].positions}
    assert {p.expert: p.text for p in result.positions} == round0, "round 0's answers still stand"
    assert result.answer in round0.values(), "the synthesiser's model is gone too: the most central answer"
    assert result.synthesizer.startswith("fallback: most central position")


@pytest.mark.fault(simulated="scripted engine that stops emitting tokens",
                   fault="expert stalling past expert_timeout_s", kept="expert dropped; others answer")
def test_an_expert_that_stalls_is_dropped_at_its_timeout_and_the_others_answer(
        tmp_path: Path, record: Record) -> None:
    def gamma_stalls(request: object) -> bool:
        return not is_synthesis(request) and persona_of(request) == "gamma"  # type: ignore[arg-type]

    mind = open_mind(tmp_path, fault_config(tmp_path, expert_timeout_s=1.0), StallingLoader(stubborn, gamma_stalls))
    try:
        result = mind.debate("q", experts=list(EXPERTS), rounds=1, mode="turns")
        status = mind.status()
    finally:
        mind.close()
    assert [(d.expert, d.round) for d in result.dropped] == [("gamma", 0)]
    assert result.dropped[0].reason.startswith("expert 'gamma' timed out after 1 s")
    assert {p.expert for p in result.positions} == {"alpha", "beta"} and result.rounds == 1
    assert result.answer == "synthesised answer combining everyone"
    assert not any(m.is_generating for m in status.loaded), "the stalled generation was stopped"


@pytest.mark.fault(simulated="scripted engine that stops emitting tokens",
                   fault="synthesiser stalling", kept="most central position returned, error recorded")
def test_a_stalled_synthesiser_times_out_and_the_most_central_answer_is_returned(
        tmp_path: Path, record: Record) -> None:
    mind = open_mind(tmp_path, fault_config(tmp_path, expert_timeout_s=1.0), StallingLoader(stubborn, is_synthesis))
    try:
        result = mind.debate("q", experts=list(EXPERTS), rounds=0, mode="parallel")
    finally:
        mind.close()
    assert result.synthesis_error == "synthesiser 'alpha' timed out"
    assert result.synthesizer.startswith("fallback: most central position")
    assert result.answer in {p.text for p in result.positions}


@pytest.mark.fault(simulated="scripted engine and a scripted memory gauge",
                   fault="RAM running out between rounds",
                   kept="later loads refused with needed/available/limit; the loaded expert answers; "
                        "nothing loaded over the limit")
def test_ram_running_out_mid_session_refuses_later_loads_with_numbers_and_the_session_still_answers(
        tmp_path: Path, record: Record) -> None:
    # A 1000 MiB machine, hard limit 90 %, 300 MiB used by others; models of 200 MiB, one in RAM
    # at a time. While gamma answers round 0, another process takes 450 MiB: from then on no
    # model can be loaded, and only gamma's, still in RAM, can answer.
    meter = MemoryMeter(total=1000 * MiB, base=300 * MiB)

    def script(target: object, request: object) -> str:
        if persona_of(request) == "gamma" and round_of(request) == 0:  # type: ignore[arg-type]
            meter.pressure = 450 * MiB
        return stubborn(target, request)  # type: ignore[arg-type]

    loader = ScriptedLoader(script, default_size=200 * MiB)
    mind = open_mind(tmp_path, fault_config(tmp_path, pool={"max_warm": 1}), loader)
    mind.pool.guard = RamGuard(hard_limit_percent=90, soft_target_percent=80, reader=meter.read)
    meter.pool_bytes = mind.pool.pool_bytes
    try:
        result = mind.debate("q", experts=list(EXPERTS), rounds=2, mode="turns")
    finally:
        mind.close()
    assert [(d.expert, d.round) for d in result.dropped] == [("alpha", 1), ("beta", 1)]
    for dropped in result.dropped:
        assert "needs 200 MiB, 150 MiB available under the limit of 900 MiB (system memory would pass 90%)" \
            in dropped.reason, dropped.reason
        assert "use mode=turns, fewer experts" in dropped.reason
    assert result.stop_reason.startswith("quorum lost: 1 of 3 experts remain")
    assert result.answer == "gamma believes gamma-specific claim number 1 about gamma things"
    kinds = [e.kind for e in mind.pool.events]
    assert kinds.count("refuse") == 2 and "load" not in kinds[kinds.index("refuse"):], \
        "nothing was loaded once memory had run out"
    assert all(e.bytes == 200 * MiB for e in mind.pool.events if e.kind == "refuse")


@pytest.mark.fault(simulated="scripted engine with declared model sizes",
                   fault="experts that do not fit the budget together", kept="turn-based, within budget")
def test_experts_that_do_not_fit_the_budget_together_take_turns_within_it(tmp_path: Path, record: Record) -> None:
    loader = ScriptedLoader(stubborn, default_size=200 * MiB)
    mind = open_mind(tmp_path, fault_config(tmp_path, pool={"max_warm": 3}), loader, ram_budget_bytes=300 * MiB)
    try:
        result = mind.debate("q", experts=list(EXPERTS), rounds=1, mode="parallel")
    finally:
        mind.close()
    assert result.mode == "turns"
    assert result.mode_reason.endswith("switched to turn-based: models a, b, c need 600 MiB together but only "
                                       "300 MiB fit under the RAM limit"), result.mode_reason
    assert mind.pool.peak_pool_bytes <= 300 * MiB and mind.pool.max_loaded_at_once == 1
    assert not result.dropped and {p.expert for p in result.positions} == set(EXPERTS)


def test_more_models_than_the_warm_set_take_turns_and_say_why(tmp_path: Path) -> None:
    mind = open_mind(tmp_path, fault_config(tmp_path), ScriptedLoader(stubborn))  # max_warm 2, three models
    try:
        result = mind.debate("q", experts=list(EXPERTS), rounds=0, mode="parallel")
    finally:
        mind.close()
    assert result.mode == "turns"
    assert result.mode_reason.endswith("models a, b, c are more than the 2 kept loaded at once (max_warm)")
    assert mind.pool.max_loaded_at_once <= 2


def test_a_load_that_can_never_fit_evicts_nothing(tmp_path: Path) -> None:
    loader = ScriptedLoader(stubborn, sizes={"a": 100 * MiB, "c": 400 * MiB})
    mind = open_mind(tmp_path, fault_config(tmp_path), loader, ram_budget_bytes=300 * MiB)
    try:
        mind.ask("warm up", expert="alpha", max_tokens=4)
        with pytest.raises(RamBudgetExceeded) as refused:
            mind.ask("too big", expert="gamma", max_tokens=4)
        loaded = mind.pool.loaded_models()
    finally:
        mind.close()
    assert "needs 400 MiB, 300 MiB available under the limit of 300 MiB" in refused.value.message
    assert loaded == ["a"], "the warm model was not evicted for a load that could not fit anyway"
