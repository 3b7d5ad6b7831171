"""The eval's `probes` method: the council's inputs choose again among the same candidates; official tests stay hidden."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from livemind.council.code import evidence as evidence_module
from livemind.council.code.evidence import gather_evidence
from livemind.council.code.programs import read_program
from livemind.evaluation.code.probing import run_probes
from livemind.evaluation.code.problems import CodeProblem
from livemind.evaluation.code.records import Candidate, CodeEvalSettings, CodePlan, MethodRun
from livemind.evaluation.code.report import score_methods
from livemind.evaluation.code.runner import CODE_TASK
from livemind.evaluation.code.verdicts import official_verdict
from livemind.sandbox import SandboxResult
from livemind.types import Answer

PROBLEM = CodeProblem(task_id="Test/1", entry_point="sign",
                      prompt='def sign(x: int) -> int:\n    """1, -1 or 0 by the sign of x.\n    >>> sign(5)\n    1\n    """\n',
                      test="def check(candidate):\n    assert candidate(0) == 0\n    assert candidate(-2) == -1\n")
WRONG = "```python\ndef sign(x: int) -> int:\n    return 1 if x >= 0 else -1\n```"  # passes the example only
RIGHT = "```python\ndef sign(x: int) -> int:\n    return (x > 0) - (x < 0)\n```"
RIGHT_TOO = "```python\ndef sign(x: int) -> int:\n    return 0 if x == 0 else (1 if x > 0 else -1)\n```"


@dataclass
class ProbeWriters:
    """Scripted council personas that write probes, recording what they were asked."""

    asked: list[str] = field(default_factory=list)

    def ask(self, question: str, *, expert: str, temperature: float, max_tokens: int, seed: int,
            batch_group: str | None = None) -> Answer:
        self.asked.append(question)
        assert temperature == 0.0
        return Answer(answer="```python\nsign(0)\nsign(-4)\nsign(5)\n```", expert=expert, model="scripted", tokens=12,
                      prompt_tokens=80, ttft_s=0.0, total_s=0.0, tok_s=0.0, finish_reason="stop")


def _candidate(text: str, logprob: float) -> Candidate:
    program = read_program(PROBLEM.prompt, PROBLEM.entry_point, text, is_cut_off=False)
    return Candidate(expert="coder", temperature=0.0, text=text, tokens=30, prompt_tokens=60, finish_reason="stop",
                     mean_logprob=logprob, program=program,
                     evidence=gather_evidence(program, PROBLEM.task().examples, timeout_s=10),
                     official=official_verdict(PROBLEM, program, timeout_s=10))


def _plan() -> CodePlan:
    return CodePlan(settings=CodeEvalSettings(), pilot_ids=(), scored_ids=(PROBLEM.task_id,), council=("coder", "mathematician"),
                    council_reason="given", best_expert="coder", expert_reason="given", temperature=0.8,
                    temperature_reason="given", pilot=(), pilot_seconds=0.0, models={}, machine="test", started_at="now")


def test_probes_choose_again_among_the_same_candidates_and_never_see_the_official_test(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the wrong candidate is the most confident: on the example alone all three behave alike and it wins
    pool = MethodRun(method="council-greedy", task_id=PROBLEM.task_id, temperature=0.0,
                     candidates=(_candidate(WRONG, -0.01), _candidate(RIGHT, -0.4), _candidate(RIGHT_TOO, -0.5)),
                     tokens=90, prompt_tokens=180, seconds=1.0)
    single = MethodRun(method="single", task_id=PROBLEM.task_id, temperature=0.0, candidates=(_candidate(WRONG, -0.01),),
                       tokens=30, prompt_tokens=60, seconds=1.0)
    programs_run: list[str] = []
    real = evidence_module.run_python

    def recording(code: str, tests: str = "", **kwargs: float) -> SandboxResult:
        programs_run.append(code + tests)
        return real(code, tests, **kwargs)

    monkeypatch.setattr(evidence_module, "run_python", recording)
    writers = ProbeWriters()
    probes = run_probes(writers, CODE_TASK, PROBLEM, _plan(), {"council-greedy": pool}, seed=0,  # type: ignore[arg-type]
                        timeout_s=10)
    assert probes.probe_calls == ("sign(0)", "sign(-4)")  # the stated example's call is left out
    assert probes.probe_behaviour["council-greedy"] == (("1", "-1"), ("0", "-1"), ("0", "-1"))
    assert probes.tokens == 24 and len(writers.asked) == 2
    assert not any("candidate(0) == 0" in q or "check(" in q for q in writers.asked)
    assert programs_run and not any("check(" in p or "candidate(" in p for p in programs_run)

    scores = {s.key: s for s in score_methods([{"single": single, "council-greedy": pool, "probes": probes}],
                                              ["single", "council-greedy", "probes"], "coder")}
    assert scores["code-exec-greedy"].passed == 0  # without probes: the confident wrong candidate
    assert scores["code-exec-greedy+probes"].passed == 1  # with them: the group of two that agrees at zero
    assert scores["code-exec-greedy+probes"].generated_tokens == 90 + 24  # the probes' cost is counted
    assert scores["code-exec-greedy+probes"].vs_single.startswith("+1/−0")


def test_a_pool_the_probes_did_not_cover_is_chosen_without_them() -> None:
    pool = MethodRun(method="council-greedy", task_id=PROBLEM.task_id, temperature=0.0,
                     candidates=(_candidate(WRONG, -0.01), _candidate(RIGHT, -0.4)), tokens=60, prompt_tokens=120,
                     seconds=1.0)
    probes = MethodRun(method="probes", task_id=PROBLEM.task_id, temperature=0.0, candidates=(), tokens=5,
                       prompt_tokens=5, seconds=0.1, probe_calls=("sign(0)",), probe_behaviour={})
    scores = {s.key: s for s in score_methods([{"council-greedy": pool, "probes": probes}],
                                              ["council-greedy", "probes"], "coder")}
    assert scores["code-exec-greedy+probes"].passed == scores["code-exec-greedy"].passed
