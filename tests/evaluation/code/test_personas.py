"""Every persona greedy, and the council chosen on the pilot: chosen by pilot passes only, scored like the rest."""

from __future__ import annotations

from livemind.council.code.evidence import Evidence
from livemind.council.code.programs import Program
from livemind.evaluation.code.personas import measured_council, missing_personas, persona_answers, pick
from livemind.evaluation.code.records import Candidate, CodeEvalSettings, CodePlan, MethodRun, PilotScore
from livemind.evaluation.code.report import score_methods

NAMES = ("a", "b", "c", "d")


def _c(expert: str, behaviour: str, passed: bool, *, examples_ok: bool = True, logprob: float = -0.5) -> Candidate:
    code = f"def f(x):\n    return {behaviour!r}  # {expert}"
    return Candidate(expert=expert, temperature=0.0, text=code, tokens=10, prompt_tokens=20, finish_reason="stop",
                     mean_logprob=logprob, program=Program(code=code, is_cut_off=False),
                     evidence=Evidence(code=code, is_cut_off=False, passed=(examples_ok,), behaviour=(behaviour,)),
                     official="passed" if passed else "failed")


def _plan() -> CodePlan:
    return CodePlan(settings=CodeEvalSettings(), pilot_ids=("P/0", "P/1"), scored_ids=("S/0",), council=("b", "c"),
                    council_reason="router", best_expert="a", expert_reason="pilot", temperature=0.8,
                    temperature_reason="pilot", pilot=tuple(PilotScore(name=n, passed=1, n=2, tokens=10) for n in NAMES),
                    pilot_seconds=0.0, models={}, machine="test", started_at="now")


def _run(method: str, *cs: Candidate) -> MethodRun:
    return MethodRun(method=method, task_id="S/0", temperature=0.0, candidates=cs, tokens=10 * len(cs),
                     prompt_tokens=20 * len(cs), seconds=1.0)


def test_the_personas_asked_are_those_no_other_method_asks_greedily() -> None:
    assert missing_personas(_plan(), NAMES) == ["d"]


def test_the_measured_council_is_the_subset_that_passes_most_pilot_problems_then_the_smaller() -> None:
    # on P/0 a and d pass; on P/1 only d passes, and only with b beside it does d's behaviour win the vote
    pilot = {"P/0": {"a": _c("a", "1", True), "b": _c("b", "2", False, examples_ok=False), "c": _c("c", "1", True),
                     "d": _c("d", "1", True)},
             "P/1": {"a": _c("a", "7", False), "b": _c("b", "8", True), "c": _c("c", "7", False),
                     "d": _c("d", "8", True)}}
    council, reason = measured_council(pilot, NAMES)
    assert council == ("b", "d") and "2 of 2" in reason


def test_persona_rows_pool_every_greedy_answer_and_compare_with_the_single_expert() -> None:
    plan = _plan()
    runs = {"single": _run("single", _c("a", "0", False, logprob=-0.1)),
            "council-greedy": _run("council-greedy", _c("b", "1", True), _c("c", "1", True)),
            "personas-greedy": _run("personas-greedy", _c("d", "2", False))}
    assert set(persona_answers(runs, plan)) == {"a", "b", "c", "d"}
    chosen = pick(persona_answers(runs, plan), NAMES)
    assert chosen is not None and chosen.expert in ("b", "c")  # the group of two behaving alike
    pilot = {"P/0": {n: _c(n, "1", n in ("b", "c")) for n in NAMES}}
    scores = {s.key: s for s in score_methods([runs], ["single", "council-greedy", "personas-greedy"], "a", plan=plan,
                                              pilot=pilot)}
    assert scores["personas-exec"].passed == 1 and scores["personas-exec"].vs_single.startswith("+1/−0")
    assert scores["measured-exec"].label.startswith("measured council (b, c)")
    assert scores["oracle-personas"].kind == "oracle" and scores["oracle-personas"].passed == 1


def test_the_pool_row_joins_every_persona_and_every_sample_and_more_samples_give_its_fair_baseline() -> None:
    plan = _plan()
    runs = {"single": _run("single", _c("a", "0", False)),
            "council-greedy": _run("council-greedy", _c("b", "0", False), _c("c", "1", True)),
            "personas-greedy": _run("personas-greedy", _c("d", "1", True)),
            "samples": _run("samples", _c("a", "0", False), _c("a", "2", False)),
            "more-samples": _run("more-samples", *(_c("a", "0", False) for _ in NAMES))}
    methods = ["single", "council-greedy", "samples", "personas-greedy"]
    scores = {s.key: s for s in score_methods([runs], methods, "a", plan=plan)}
    # the pool (a, b, c, d greedy + 2 samples): c and d return 1 alike, but a, b and a sample return 0 — three
    # against two, so the pool picks the wrong group; its oracle still passes
    assert scores["pool-exec"].passed == 0 and scores["oracle-pool"].passed == 1
    assert scores["pool-exec"].candidates == 6 and "sc-exec@pool" not in scores
    more = {s.key: s for s in score_methods([runs], [*methods, "more-samples"], "a", plan=plan)}
    assert more["sc-exec@pool"].candidates == 6 and more["sc-exec@pool"].passed == 0
    assert more["sc-exec@pool"].label.startswith("self-consistency, 6 samples (the pool's size)")
