"""The Python API's contract over scripted backends: typed options, clear refusals, cancellation."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from livemind.engine.backends.base import CancelSignal, LoadTarget, TokenCallback
from livemind.errors import InvalidRequestError, UnknownExpertError
from livemind.types import Completion, GenerationRequest
from tests.support.fakes import ScriptedBackend
from tests.support.minds import EXPERTS, scripted

LONG = " ".join(f"word{i}" for i in range(400))


def test_consensus_with_rounds_says_to_use_debate(tmp_path: Path) -> None:
    mind, _ = scripted(tmp_path, lambda target, request: "fine")
    with pytest.raises(InvalidRequestError) as caught:
        mind.consensus("q", experts=list(EXPERTS), rounds=1)
    assert "debate(" in (caught.value.hint or "")


def test_an_unknown_expert_in_the_config_lookup_lists_the_valid_names(tmp_path: Path) -> None:
    mind, _ = scripted(tmp_path, lambda target, request: "fine")
    with pytest.raises(UnknownExpertError) as caught:
        mind.config.expert("nobody")
    assert "alpha" in (caught.value.hint or "")


class _HeldBackend(ScriptedBackend):
    """Emits its first token, then holds until released; honours cancel before every token."""

    def __init__(self, target: LoadTarget, started: threading.Event, release: threading.Event) -> None:
        super().__init__(target, lambda t, r: LONG)
        self.started, self.release, self.produced = started, release, 0

    def generate(self, request: GenerationRequest, *, on_token: TokenCallback | None = None,
                 cancel: CancelSignal | None = None) -> Completion:
        finish = "stop"
        for i, word in enumerate(LONG.split(" ")):
            if cancel is not None and cancel.is_set():
                finish = "cancelled"
                break
            self.produced += 1
            if on_token:
                on_token(word if i == 0 else " " + word)
            self.started.set()
            self.release.wait(10)
        return Completion(text="x", prompt_tokens=1, completion_tokens=self.produced, ttft_s=0.001, total_s=0.002,
                          decode_tok_s=1.0, finish_reason=finish)  # type: ignore[arg-type]


def test_cancelling_an_aask_task_stops_the_expert_generating(tmp_path: Path) -> None:
    started, release = threading.Event(), threading.Event()
    mind, loader = scripted(tmp_path, lambda target, request: LONG)
    backends: list[_HeldBackend] = []

    def load(target: LoadTarget) -> _HeldBackend:
        backends.append(_HeldBackend(target, started, release))
        return backends[-1]

    loader.load = load  # type: ignore[method-assign]

    async def scenario() -> None:
        task = asyncio.create_task(mind.aask("q", expert="alpha"))
        await asyncio.wait_for(asyncio.to_thread(started.wait, 10), 15)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()  # the engine takes its next step, sees the cancel, and stops
        async with asyncio.timeout(10):
            while any(m.is_generating for m in mind.status().loaded):
                await asyncio.sleep(0.01)

    asyncio.run(scenario())
    assert 1 <= backends[0].produced <= 2, f"generation went on after the cancel: {backends[0].produced} of 400 tokens"


def test_a_planned_routing_is_reused_so_the_question_is_routed_once(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    mind, _ = scripted(tmp_path, lambda target, request: "fine")
    planned = mind.route("Which is better, tea or coffee?", mode="parallel", is_council=True)
    routed: list[str] = []
    original = mind.router.route
    monkeypatch.setattr(mind.router, "route", lambda question, **kw: routed.append(question) or original(question, **kw))
    result = mind.consensus("Which is better, tea or coffee?", routing=planned, mode="parallel")
    assert routed == [], "the graph did not route again"
    assert result.routing == planned and result.mode_reason.startswith(planned.reason)
    assert {p.expert for p in result.positions} == set(planned.selected)
    mind.consensus("Which is better, tea or coffee?", mode="parallel")
    assert len(routed) == 1, "without a plan the graph routes"


def test_a_chat_is_folded_into_one_question_and_either_form_is_accepted(tmp_path: Path) -> None:
    asked: list[str] = []
    mind, _ = scripted(tmp_path, lambda target, request: asked.append(request.messages[-1].content) or "fine")
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a prime."},
            {"role": "assistant", "content": "7"}, {"role": "user", "content": "Another one?"}]
    answer = mind.ask(messages=chat, expert="alpha")
    assert answer.answer == "fine"
    assert "Instructions: Be brief." in asked[-1] and "Assistant: 7" in asked[-1] and "Question: Another one?" in asked[-1]
    result = mind.consensus(messages=chat, experts=list(EXPERTS))
    assert result.question.endswith("Question: Another one?")
    with pytest.raises(InvalidRequestError, match="either a question or messages"):
        mind.ask("q", messages=chat)
    with pytest.raises(InvalidRequestError, match="must be the user's question"):
        mind.ask(messages=chat[:3], expert="alpha")
    with pytest.raises(InvalidRequestError, match="malformed"):
        mind.ask(messages=[{"role": "user"}], expert="alpha")


def test_asking_one_expert_never_builds_the_graph_nor_imports_its_libraries() -> None:
    import subprocess
    import sys

    code = ("import sys, livemind; from livemind.orchestrator import LiveMind; "
            "print(sorted(m for m in sys.modules if m.startswith(('langgraph.graph', 'langgraph.pregel', 'openai'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_every_request_reports_ram_before_and_after_in_its_result_and_the_log(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    mind, _ = scripted(tmp_path, lambda target, request: "fine")
    with caplog.at_level("INFO", logger="livemind"):
        answer = mind.ask("q", expert="alpha")
        result = mind.consensus("q", experts=list(EXPERTS))
    for ram in (answer.ram, result.ram):
        assert ram is not None and 0 < ram.before_percent < 100 and 0 < ram.after_percent < 100
        assert ram.before_bytes > 0 and ram.after_bytes > 0 and ram.limit_percent == mind.pool.guard.hard_limit_percent
    logged = [r.getMessage() for r in caplog.records if "RAM" in r.getMessage()]
    assert any(m.startswith("ask alpha: RAM ") for m in logged), logged
    assert any(m.startswith(f"session {result.session_id}: RAM ") for m in logged), logged


def test_experts_lists_every_expert_with_whether_its_model_is_loaded(tmp_path: Path) -> None:
    mind, _ = scripted(tmp_path, lambda target, request: "fine")
    assert [(e.name, e.is_loaded) for e in mind.experts()] == [(n, False) for n in EXPERTS]
    mind.ask("q", expert=EXPERTS[0])
    loaded = {e.name for e in mind.experts() if e.is_loaded}
    assert EXPERTS[0] in loaded
    assert mind.schedule_mode == "latency"
