"""Two processes on one HumanEval folder share the work: each (problem, method) runs once, the pilot once.

The method runs are scripted (the seam is `run_method`); the claims, the plan lock, the store and
parts.json are the real ones. Two runners in two threads stand in for two processes: each claim
opens its own file, and `flock` locks of separate opens exclude each other as they do across
processes.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

from livemind.evaluation.code.records import CodeEvalSettings, MethodRun
from livemind.evaluation.code.runner import CodeEvalRunner
from livemind.evaluation.code.store import CodeRunStore

SETTINGS = CodeEvalSettings(limit=6, samples=2)


def _runner(out: Path, methods: list[str], ran: Counter, pilots: list[str], who: str) -> CodeEvalRunner:
    mind = SimpleNamespace(config=SimpleNamespace(expert_names=["a", "b"],
                                                  expert=lambda n: SimpleNamespace(model=f"{n}.gguf")))
    runner = CodeEvalRunner(mind, SETTINGS, methods=methods, store=CodeRunStore(out), poll_s=0.01)  # type: ignore[arg-type]

    def pilot_expert(_pilot: object) -> tuple[str, str, tuple[()]]:
        pilots.append(who)
        time.sleep(0.2)  # long enough for the other runner to arrive while the pilot runs
        return "a", "scripted", ()

    def run_method(method: str, problem, plan, earlier=None) -> MethodRun:  # type: ignore[no-untyped-def]
        ran[(problem.task_id, method)] += 1
        time.sleep(0.02)
        return MethodRun(method=method, task_id=problem.task_id, temperature=0.0, candidates=(), tokens=1,
                         prompt_tokens=1, seconds=0.02, detail=who)

    runner.choose_council = lambda scored: (("a", "b"), "scripted")  # type: ignore[method-assign]
    runner.choose_expert = pilot_expert  # type: ignore[method-assign]
    runner.choose_temperature = lambda pilot, expert: (0.8, "scripted", ())  # type: ignore[method-assign]
    runner.run_method = run_method  # type: ignore[method-assign]
    return runner


def _together(*runners: CodeEvalRunner) -> list:
    runs: list = [None] * len(runners)

    def go(i: int) -> None:
        runs[i] = runners[i].run()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(runners))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a runner never finished"
    return runs


def test_two_workers_with_the_same_methods_split_the_problems(tmp_path: Path) -> None:
    ran: Counter = Counter()
    pilots: list[str] = []
    methods = ["single", "samples"]
    first, second = _together(_runner(tmp_path, methods, ran, pilots, "A"), _runner(tmp_path, methods, ran, pilots, "B"))
    assert len(pilots) == 1, "the pilot ran in both processes"
    assert set(ran.values()) == {1} and len(ran) == 6 * 2, "a method ran twice, or not at all"
    for run in (first, second):  # each returns the whole run, whoever did each part
        assert len(run.problems) == 6 and all(set(r) == set(methods) for r in run.problems.values())
    doers = {m.detail for r in first.problems.values() for m in r.values()}
    assert doers == {"A", "B"}, "one worker did everything: the other waited instead of working"
    parts = CodeRunStore(tmp_path).parts()
    assert [p.index for p in parts] == [1, 2] and sum(p.units for p in parts) == 12


def test_a_worker_with_other_methods_runs_beside_the_main_one(tmp_path: Path) -> None:
    ran: Counter = Counter()
    pilots: list[str] = []
    main, extra = _together(_runner(tmp_path, ["single", "samples"], ran, pilots, "A"),
                            _runner(tmp_path, ["debate"], ran, pilots, "B"))
    assert len(pilots) == 1 and set(ran.values()) == {1} and len(ran) == 6 * 3
    assert all(set(r) == {"single", "samples"} for r in main.problems.values())
    assert all(set(r) == {"debate"} for r in extra.problems.values())
    assert {m.detail for r in extra.problems.values() for m in r.values()} == {"B"}


def test_a_problem_held_elsewhere_waits_until_it_is_let_go(tmp_path: Path) -> None:
    ran: Counter = Counter()
    runner = _runner(tmp_path, ["single"], ran, [], "A")
    store = CodeRunStore(tmp_path)
    with store.claim("HumanEval/0") as mine:
        assert mine
        with store.claim("HumanEval/0") as again:
            assert not again, "a held problem was handed out twice"
        done = threading.Event()
        worker = threading.Thread(target=lambda: (runner.run(), done.set()))
        worker.start()
        time.sleep(0.6)
        assert not done.is_set(), "the run finished without the held problem"
        assert ("HumanEval/0", "single") not in ran and len(ran) == 5
    worker.join(timeout=30)
    assert done.is_set() and ran[("HumanEval/0", "single")] == 1
    assert (tmp_path / "run" / ".locks" / ".gitignore").read_text() == "*\n"
