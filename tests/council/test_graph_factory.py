"""The graph the LangGraph way: nodes read a GraphRuntime from the run's context, and the
`langgraph.json` factory opens one LiveMind per process on the first run, never at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import graphs.livemind_graph as livemind_graph
from livemind.council import state
from livemind.council.graph import GraphRuntime, build_graph, run_config
from livemind.environment import EdgeSettings
from livemind.errors import LiveMindError
from livemind.events import DebateEvent, RouteEvent, SynthesisDone
from tests.support.minds import EXPERTS, scripted, stubborn
from tests.support.servers import REPO

ROOT = REPO
INPUTS = {"question": "question about everything",
          "options": {"mode": "parallel", "experts": list(EXPERTS), "rounds": 0, "seed": 3}}


@pytest.fixture
def fresh_process_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process-wide runtime slot of this test only (nothing provided, nothing opened)."""
    monkeypatch.setattr(state, "_PROCESS", state._ProcessRuntime())


def test_importing_the_langgraph_entry_opens_no_livemind_and_writes_no_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    code = ("import importlib.util, json, sys\n"
            "spec = importlib.util.spec_from_file_location('livemind_graph', sys.argv[1])\n"
            "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
            "graph = module.make_graph()\n"
            "print(json.dumps({'minds': len(module._minds), 'same': graph is module.make_graph(),\n"
            "                  'checkpointer': graph.checkpointer is not None}))\n")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "graphs" / "livemind_graph.py")], cwd=tmp_path,
                         env={**os.environ, "LIVEMIND_HOME": str(home), "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=180, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"minds": 0, "same": True, "checkpointer": False}
    assert list(home.iterdir()) == [], "no LiveMind, no SQLite file before the first run"


def test_langgraph_json_names_the_factory() -> None:
    entry = json.loads((ROOT / "langgraph.json").read_text())["graphs"]["livemind"]
    assert entry == "./graphs/livemind_graph.py:make_graph"
    assert callable(livemind_graph.make_graph)


def test_the_graph_declares_its_context_input_and_output(tmp_path: Path) -> None:
    graph = build_graph()
    assert graph.context_schema is GraphRuntime
    assert {"question", "options", "routing"} <= set(graph.get_input_jsonschema()["properties"])
    assert set(graph.get_output_jsonschema()["properties"]) == {"result"}


def test_a_run_reads_its_runtime_from_the_context(tmp_path: Path, fresh_process_runtime: None) -> None:
    mind, _ = scripted(tmp_path, stubborn)
    graph = build_graph()
    events: list[DebateEvent] = []
    for mode, payload in graph.stream({**INPUTS, "session_id": "ctx"}, run_config("ctx"), context=mind.runtime,
                                      stream_mode=["custom", "values"]):
        if mode == "custom":
            events.append(payload)
        else:
            final = payload
    assert isinstance(events[0], RouteEvent) and isinstance(events[-1], SynthesisDone), "the nodes write typed events"
    assert all(isinstance(e.round, int) for e in events if not isinstance(e, RouteEvent))
    assert {p["expert"] for p in final["result"]["positions"]} == set(EXPERTS)
    assert graph.invoke({**INPUTS, "session_id": "ctx2"}, context=mind.runtime).keys() == {"result"}


def test_a_run_without_context_says_how_to_pass_one(tmp_path: Path, fresh_process_runtime: None) -> None:
    with pytest.raises(LiveMindError, match="runtime context") as caught:
        build_graph().invoke({**INPUTS, "session_id": "none"})
    assert "context=mind.runtime" in (caught.value.hint or "")


def test_the_served_graph_opens_one_livemind_on_the_first_run(tmp_path: Path, fresh_process_runtime: None,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    mind, _ = scripted(tmp_path, stubborn)
    opened: list[EdgeSettings] = []

    def open_mind(settings: EdgeSettings) -> object:
        opened.append(settings)
        return mind

    monkeypatch.setattr(livemind_graph, "open_mind", open_mind)
    monkeypatch.setattr(livemind_graph, "_minds", [])
    monkeypatch.setenv("LIVEMIND_HOME", str(tmp_path))
    graph = livemind_graph.make_graph()
    assert graph.checkpointer is None and graph.context_schema is None and not opened
    for n in range(2):  # the server sends a plain dict as context: it passes through, the shared runtime answers
        result = graph.invoke({**INPUTS, "session_id": f"served-{n}"}, context={})["result"]
        assert {p["expert"] for p in result["positions"]} == set(EXPERTS)
    assert len(opened) == 1 and opened[0].home == tmp_path
    assert livemind_graph._minds == [mind]


def test_the_process_runtime_opens_once_under_concurrent_first_runs(fresh_process_runtime: None) -> None:
    calls: list[int] = []
    runtime = SimpleNamespace(name="the runtime")

    def provider() -> GraphRuntime:
        calls.append(1)
        time.sleep(0.2)
        return runtime  # type: ignore[return-value]

    state.provide_process_runtime(provider)
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(state.process_runtime())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1] and seen == [runtime] * 4
