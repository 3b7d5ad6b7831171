"""The `livemind` command as a user runs it: a real process, real models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from livemind.council.code import CodeResult
from livemind.errors import InvalidRequestError
from tests.support.servers import REPO

pytestmark = pytest.mark.slow


def run(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIVEMIND_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "livemind.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


def test_ask_json_answers_with_expert_tokens_and_timings_deterministically_at_temperature_zero(home: Path) -> None:
    # The tiny model's greedy text differs between SIMD builds (on an AVX-512 EPYC it does not say
    # Paris), so this checks shape and same-machine determinism; test_ask_on_the_default_council
    # checks that the answer is right.
    answers = []
    for _ in range(2):
        done = run(home, "ask", "What is the capital of France?", "--expert", "generalist", "--json",
                   "--temperature", "0", "--max-tokens", "24")
        assert done.returncode == 0, done.stderr
        answers.append(json.loads(done.stdout))
    first, second = answers
    assert first["answer"].strip() and first["answer"] == second["answer"]
    assert first["expert"] == "generalist" and first["model"] == "smollm2-135m" and 0 < first["tokens"] <= 24
    assert first["ttft_s"] > 0 and first["tok_s"] > 0


def test_ask_on_the_default_council_answers_right_with_the_capable_model(home: Path) -> None:
    done = run(home, "ask", "What is the capital of France? Answer in one word.", "--council", "default",
               "--expert", "generalist", "--json", "--temperature", "0", "--max-tokens", "16")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["model"] == "qwen2.5-coder-1.5b"
    assert "paris" in answer["answer"].lower()
    # this model's vocabulary makes llama.cpp warn "load: control-looking token ..." on every load: logger only
    assert "control-looking" not in done.stderr, done.stderr


def test_verbose_shows_the_engine_load_log_on_stderr(home: Path) -> None:
    done = run(home, "ask", "What is 2 + 2?", "--council", "default", "--expert", "generalist", "--json",
               "--temperature", "0", "--max-tokens", "4", "--verbose")
    assert done.returncode == 0, done.stderr
    engine = [line for line in done.stderr.splitlines() if " livemind.engine: " in line]
    assert any("control-looking token" in line and " WARNING " in line for line in engine), done.stderr[-2000:]
    assert json.loads(done.stdout)["model"] == "qwen2.5-coder-1.5b", "stdout still carries the answer alone"


def test_edge_flags_are_accepted_after_the_subcommand(home: Path) -> None:
    before = run(home, "--ram-budget", "300MiB", "status", "--json")
    after = run(home, "status", "--json", "--ram-budget", "300MiB")
    assert before.returncode == after.returncode == 0, after.stderr
    assert json.loads(before.stdout)["budget_bytes"] == json.loads(after.stdout)["budget_bytes"] == 300 * 2**20


def test_ask_streams_tokens_to_stdout_and_stats_to_stderr(home: Path) -> None:
    done = run(home, "ask", "What is the capital of France?", "--expert", "generalist", "--max-tokens", "24")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() and "tok/s" in done.stderr


def test_ask_says_when_the_token_limit_cut_the_reply(home: Path) -> None:
    done = run(home, "ask", "Explain in detail how a hash map works.", "--expert", "generalist", "--max-tokens", "4")
    assert done.returncode == 0, done.stderr
    assert "cut off at the token limit (4 tokens)" in done.stderr and "--max-tokens" in done.stderr


def test_code_runs_code_consensus_and_prints_its_evidence(home: Path) -> None:
    done = run(home, "code", "Write a Python function double(x) that returns twice x.", "--signature", "def double(x):",
               "--tests", "assert double(2) == 4", "--experts", "coder,generalist", "--max-tokens", "96", "--json")
    assert done.returncode == 0, done.stderr
    result = CodeResult.model_validate_json(done.stdout)
    assert result.entry_point == "double" and len(result.examples) == 1
    assert [c.expert for c in result.candidates] == ["coder", "generalist"]
    assert 0.0 <= result.agreement <= 1.0 and result.tokens > 0


def test_status_json_reports_ram_and_limits(home: Path) -> None:
    done = run(home, "status", "--json")
    status = json.loads(done.stdout)
    assert status["hard_limit_percent"] == 90 and status["max_warm"] == 2
    assert status["ram_total_bytes"] > status["ram_used_bytes"] > 0


def test_unknown_expert_is_an_error_that_lists_the_valid_ones(home: Path) -> None:
    done = run(home, "ask", "hi", "--expert", "nobody")
    assert done.returncode == 2
    assert "unknown expert 'nobody'" in done.stderr and "generalist" in done.stderr


def test_bad_config_fails_at_start_naming_expert_and_field(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[experts]]\nname = "x"\nmodel = "smollm2-135m"\npersona = "p"\ndescription = "d"\n'
                   'engine = { kv_type = "q8_0", flash_attn = false }\n[router]\nfallback = "x"\n[debate]\nsynthesizer = "x"\n')
    done = run(home, "--config", str(bad), "status")
    assert done.returncode == 2
    assert "expert 'x', field 'engine.flash_attn'" in done.stderr


def test_a_bad_router_setting_is_named_and_the_hint_prints_as_written(home: Path, tmp_path: Path) -> None:
    shipped = (REPO / "livemind" / "councils" / "tiny.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(shipped.replace('embedding_backend = "onnx"', 'embedding_backend = "tf"'))
    done = run(home, "--config", str(bad), "route", "hello")
    assert done.returncode == 2
    assert "field 'embedding_backend'" in done.stderr and "'onnx' or 'torch'" in done.stderr
    assert "[pool], [router] and [debate]" in done.stderr, done.stderr  # not eaten as terminal markup


def test_debate_json_has_answer_agreement_positions_routing(home: Path) -> None:
    done = run(home, "debate", "Can humans be replaced by AI within 20 years?", "--experts", "generalist,ethicist",
               "--rounds", "1", "--max-tokens", "32", "--seed", "2", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for key in ("answer", "agreement", "rounds", "positions", "session_id", "routing"):
        assert key in result
    assert len(result["positions"]) == 2
    assert Path(result["transcript"]["markdown"]).exists() and Path(result["transcript"]["json"]).exists()
    listed = run(home, "sessions", "list", "--json")
    assert result["session_id"] in listed.stdout


def test_the_scheduler_is_chosen_by_flag_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from livemind.cli.edge import edge_settings as _settings
    from livemind.cli.main import build_parser

    monkeypatch.delenv("LIVEMIND_SCHEDULER", raising=False)
    assert _settings(build_parser().parse_args(["serve"])).scheduler == "latency"
    assert _settings(build_parser().parse_args(["serve", "--scheduler", "throughput"])).scheduler == "throughput"
    monkeypatch.setenv("LIVEMIND_SCHEDULER", "throughput")
    assert _settings(build_parser().parse_args(["mcp"])).scheduler == "throughput"
    monkeypatch.setenv("LIVEMIND_SCHEDULER", "fastest")
    with pytest.raises(InvalidRequestError, match="unknown scheduler 'fastest'"):
        _settings(build_parser().parse_args(["mcp"]))
