"""`more-samples`: one more sample of the best expert per persona, drawn after the k samples with the seeds a
larger k would have used, so self-consistency can be read at the size of the persona-and-samples pool.

The mind is scripted at the seam (`ask`); the problem is HumanEval/0 from the installed package, and every
reply is judged in the real sandbox.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

from livemind.evaluation.code.problems import load_humaneval
from livemind.evaluation.code.records import CodeEvalSettings, CodePlan
from livemind.evaluation.code.runner import CodeEvalRunner
from livemind.types import Answer

RIGHT = ("```python\ndef has_close_elements(numbers, threshold):\n"
         "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n```")


def _runner(samples: int, seeds: list[tuple[str, float, int]]) -> CodeEvalRunner:
    lock = threading.Lock()

    def ask(question: str, *, expert: str, max_tokens: int, seed: int, temperature: float, batch_group: str) -> Answer:
        with lock:
            seeds.append((expert, temperature, seed))
        return Answer(answer=RIGHT, expert=expert, model="scripted", tokens=30, prompt_tokens=100, ttft_s=0.0,
                      total_s=0.0, tok_s=0.0, finish_reason="stop")
    mind = SimpleNamespace(ask=ask, config=SimpleNamespace(expert_names=["a", "b", "c"]))
    return CodeEvalRunner(mind, CodeEvalSettings(samples=samples), methods=["samples", "more-samples"])  # type: ignore[arg-type]


def _plan(settings: CodeEvalSettings) -> CodePlan:
    return CodePlan(settings=settings, pilot_ids=(), scored_ids=("HumanEval/0",), council=("a", "b"), council_reason="",
                    best_expert="a", expert_reason="", temperature=0.8, temperature_reason="", pilot=(),
                    pilot_seconds=0.0, models={}, machine="test", started_at="now")


def test_more_samples_draw_one_per_persona_with_the_seeds_a_larger_k_would_have_used() -> None:
    problem = next(p for p in load_humaneval() if p.task_id == "HumanEval/0")
    two: list[tuple[str, float, int]] = []
    runner = _runner(2, two)
    first = runner.run_method("samples", problem, _plan(runner.settings))
    more = runner.run_method("more-samples", problem, _plan(runner.settings))
    assert [c.sample for c in first.candidates] == [0, 1] and [c.sample for c in more.candidates] == [2, 3, 4]
    assert more.method == "more-samples" and more.tokens == 90 and all(c.is_passed for c in more.candidates)
    five: list[tuple[str, float, int]] = []
    wide = _runner(5, five)
    wide.run_method("samples", problem, _plan(wide.settings))
    assert sorted(two) == sorted(five)  # 2 + 3 more are the same draws as 5 at once
    assert {(e, t) for e, t, _ in two} == {("a", 0.8)} and len({s for _, _, s in two}) == 5
