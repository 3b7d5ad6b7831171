"""EvalRunner over scripted models: every method runs on every question, choices are honest, failures are wrong."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from livemind.errors import EngineError, InvalidRequestError, UnknownExpertError
from livemind.evaluation.judging import council_cut_off
from livemind.evaluation.report import _setup_lines, build_report
from livemind.evaluation.results import COUNCIL_METHODS, METHOD_ORDER, Attempt, EvalSettings
from livemind.evaluation.runner import EvalRunner
from livemind.evaluation.scoring import score_run
from livemind.evaluation.store import RunStore
from livemind.evaluation.tasks import generate_problems
from tests.evaluation.conftest import EXPERTS, ScriptedCouncil, Turn, read_turn

COUNCIL = ("alpha", "beta", "gamma")


def test_every_method_answers_every_question_and_right_models_score_full_marks(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    council = scripted_council()
    run = EvalRunner(council.mind, EvalSettings(n=4, seed=1, rounds=2, experts=COUNCIL, best_expert="alpha")).run()
    assert len(run.problems) == 4
    for p in run.problems:
        assert p.single.extracted == p.problem.answer
        assert all(p.council(kind).reply.extracted == p.problem.answer for kind in COUNCIL_METHODS)
        assert p.samples and all(a.extracted == p.problem.answer for a in p.samples)
        assert p.debate.session_id and p.debate.session_id != p.select.session_id
        assert p.vote.session_id == p.selective.session_id and p.vote.source.startswith("the selective debate's first")
    assert [s.accuracy for s in score_run(run)] == [1.0] * len(METHOD_ORDER)


def test_debate_positions_are_judged_in_every_round(scripted_council: Callable[..., ScriptedCouncil]) -> None:
    def alpha_learns(turn: Turn) -> int | None:
        if turn.expert == "alpha" and turn.kind == "first":
            return (turn.key or 0) + 5
        return turn.key

    run = EvalRunner(scripted_council(alpha_learns).mind,
                     EvalSettings(n=3, seed=4, rounds=2, experts=COUNCIL, best_expert="beta")).run()
    for p in run.problems:
        rounds = {pos.round for pos in p.debate.positions}
        assert rounds == set(range(p.debate.rounds + 1))
        first = {pos.expert: pos for pos in p.debate.positions if pos.round == 0}
        assert not first["alpha"].is_correct and first["beta"].is_correct
        later = [pos for pos in p.debate.positions if pos.expert == "alpha" and pos.round == 1]
        assert later and later[0].is_correct


def test_a_question_whose_generation_fails_counts_as_wrong_and_the_run_goes_on(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    broken: set[int | None] = set()

    def first_greedy_breaks(turn: Turn) -> int | None:
        if turn.temperature == 0.0 and not broken:
            broken.add(turn.key)
            raise EngineError("scripted engine crash")
        return turn.key

    run = EvalRunner(scripted_council(first_greedy_breaks).mind,
                     EvalSettings(n=3, seed=9, rounds=1, experts=COUNCIL, best_expert="gamma")).run()
    failed = run.problems[0].single
    assert failed.extracted is None and failed.failure == "error: scripted engine crash"
    assert all(p.single.extracted == p.problem.answer for p in run.problems[1:])


def test_the_pilot_picks_the_expert_that_is_right_on_held_out_questions(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    def only_gamma(turn: Turn) -> int | None:
        return turn.key if turn.expert == "gamma" else None

    council = scripted_council(only_gamma)
    run = EvalRunner(council.mind, EvalSettings(n=2, seed=0, rounds=1, experts=COUNCIL, pilot_n=3)).run()
    assert run.choice.expert == "gamma" and run.choice.how == "pilot"
    assert [(p.expert, p.correct, p.n) for p in run.choice.pilot] == [("alpha", 0, 3), ("beta", 0, 3), ("gamma", 3, 3)]
    assert run.pilot_tokens == sum(p.tokens for p in run.choice.pilot) + sum(t.tokens for t in run.sc_pilot) > 0


def test_the_single_expert_is_also_asked_at_its_council_temperature_and_scored_like_with_like(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    def wrong_when_sampling(turn: Turn) -> int | None:
        return turn.key if turn.temperature in (0.0, 0.7) else (turn.key or 0) + 1

    council = scripted_council(wrong_when_sampling, temperatures={"alpha": 0.3})
    run = EvalRunner(council.mind, EvalSettings(n=3, seed=2, rounds=1, experts=COUNCIL, best_expert="alpha")).run()
    assert all(p.single_sampled is not None and p.single_sampled.extracted == p.problem.answer + 1
               for p in run.problems), "the sampled single answer is asked at alpha's own 0.3"
    sampled_turns = [t for t in council.turns if t.expert == "alpha" and t.temperature == 0.3 and t.kind == "first"]
    assert len(sampled_turns) >= 3
    report = build_report(run)
    scores = {s.method: s for s in report.scores}
    assert scores["single"].correct == 3 and scores["single_sampled"].correct == 0
    assert any(c.baseline == "single_sampled" for c in report.verdict.comparisons)
    assert any("Like with like" in s for s in report.verdict.sentences)


def test_a_greedy_council_has_no_sampled_single_and_older_runs_still_score(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    run = EvalRunner(scripted_council().mind, EvalSettings(n=2, seed=2, rounds=1, experts=COUNCIL, best_expert="alpha",
                                                           council_temperature=0.0)).run()
    assert all(p.single_sampled is None for p in run.problems)
    assert "single_sampled" not in {s.method for s in score_run(run)}


def test_self_consistency_temperature_is_chosen_on_the_pilot_and_never_on_scored_questions(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    def right_only_at_07(turn: Turn) -> int | None:
        return turn.key if turn.temperature in (0.0, 0.7) else None

    council = scripted_council(right_only_at_07, temperatures={"alpha": 0.2, "beta": 0.2, "gamma": 0.2})
    run = EvalRunner(council.mind, EvalSettings(n=2, seed=5, rounds=1, experts=COUNCIL, pilot_n=3)).run()
    assert [t.temperature for t in run.sc_pilot] == [0.2, 0.7]
    assert [t.correct for t in run.sc_pilot] == [0, 3] and run.sampling_temperature == 0.7
    assert all(a.extracted == p.problem.answer for p in run.problems for a in p.samples)
    assert "chosen on the pilot" in "\n".join(_setup_lines(build_report(run)))


def test_a_given_self_consistency_temperature_is_kept_and_costs_no_pilot(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    run = EvalRunner(scripted_council().mind, EvalSettings(n=2, seed=5, rounds=1, experts=COUNCIL,
                                                           best_expert="alpha", sc_temperature=0.9)).run()
    assert run.sc_pilot == () and run.sampling_temperature == 0.9


def test_without_experts_the_council_is_the_routers_choice(scripted_council: Callable[..., ScriptedCouncil]) -> None:
    run = EvalRunner(scripted_council().mind, EvalSettings(n=2, seed=0, rounds=1, best_expert="alpha")).run()
    assert sorted(run.council) == sorted(EXPERTS)
    assert "router convenes it for 2 of 2 questions" in run.council_reason


def test_unknown_experts_and_a_council_of_one_are_refused(scripted_council: Callable[..., ScriptedCouncil]) -> None:
    mind = scripted_council().mind
    with pytest.raises(UnknownExpertError):
        EvalRunner(mind, EvalSettings(experts=("alpha", "nobody")))
    with pytest.raises(UnknownExpertError):
        EvalRunner(mind, EvalSettings(best_expert="nobody"))
    with pytest.raises(InvalidRequestError, match="at least two experts"):
        EvalRunner(mind, EvalSettings(experts=("alpha", "alpha")))
    with pytest.raises(InvalidRequestError, match="unknown task"):
        EvalRunner(mind, EvalSettings(task="chess"))


def test_agreeing_first_answers_skip_selective_revision_and_the_full_debate_runs_on_its_own(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    council = scripted_council()
    run = EvalRunner(council.mind, EvalSettings(n=2, seed=3, rounds=1, experts=COUNCIL, best_expert="alpha")).run()
    for p in run.problems:
        assert p.selective.debate_triggered is False and p.selective.rounds == 0
        assert "agree" in p.selective.trigger_reason
        assert p.debate.source == "run" and p.debate.rounds == 1 and p.debate.session_id != p.selective.session_id
        assert p.vote.agreement == 1.0 and p.vote.first_vote == p.problem.answer
        assert p.vote.reply.tokens < p.selective.reply.tokens < p.debate.reply.tokens


def test_differing_first_answers_trigger_the_selective_debate_which_then_is_the_debate(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    def alpha_off_by_one(turn: Turn) -> int | None:
        return (turn.key or 0) + 1 if turn.expert == "alpha" and turn.kind == "first" else turn.key

    council = scripted_council(alpha_off_by_one)
    run = EvalRunner(council.mind, EvalSettings(n=2, seed=3, rounds=1, experts=COUNCIL, best_expert="beta")).run()
    debates = [t for t in council.turns if t.kind == "revision"]
    for p in run.problems:
        assert p.selective.debate_triggered is True and "differ" in p.selective.trigger_reason
        assert p.debate.session_id == p.selective.session_id and p.debate.source.startswith("the selective debate")
        assert round(p.vote.agreement, 2) == 0.67 and p.vote.first_vote == p.problem.answer
    assert len(debates) == len(COUNCIL) * len(run.problems), "each triggered debate's revision round ran once"


def test_an_interrupted_run_resumes_where_it_stopped(scripted_council: Callable[..., ScriptedCouncil],
                                                    tmp_path: Path) -> None:
    settings = EvalSettings(n=3, seed=8, rounds=1, experts=COUNCIL, best_expert="alpha")
    calls = {"single": 0}

    def dies_on_the_second_question(turn: Turn) -> int | None:
        if turn.temperature == 0.0 and turn.kind == "first" and turn.expert == "alpha":
            calls["single"] += 1
            if calls["single"] == 2:
                raise RuntimeError("power cut")
        return turn.key

    store = RunStore(tmp_path / "out")
    with pytest.raises(RuntimeError, match="power cut"):
        EvalRunner(scripted_council(dies_on_the_second_question).mind, settings, store=store).run()
    assert store.question(0) is not None and store.question(1) is None
    assert [p.questions for p in store.parts()] == [1]

    resumed = scripted_council()
    done: list[tuple[int, int]] = []
    run = EvalRunner(resumed.mind, settings, store=store, on_advance=lambda i, n: done.append((i, n))).run()
    assert done == [(1, 3), (2, 3), (3, 3)]
    assert [p.part for p in run.problems] == [1, 2, 2]
    assert [(p.index, p.questions) for p in run.parts] == [(1, 1), (2, 2)]
    assert all(p.machine for p in run.parts), "each part names the CPU it ran on: a resumed run may move machines"
    greedy_asked = [t for t in resumed.turns if t.temperature == 0.0 and t.kind == "first" and t.expert == "alpha"]
    assert len(greedy_asked) == 2, "the kept question is not asked again"
    assert run.problems[0] == store.question(0)


def test_resuming_with_other_settings_is_refused_with_what_to_do(scripted_council: Callable[..., ScriptedCouncil],
                                                                 tmp_path: Path) -> None:
    store = RunStore(tmp_path / "out")
    EvalRunner(scripted_council().mind, EvalSettings(n=1, seed=8, experts=COUNCIL, best_expert="alpha"),
               store=store).run()
    with pytest.raises(InvalidRequestError, match="seed differ") as caught:
        EvalRunner(scripted_council().mind, EvalSettings(n=1, seed=9, experts=COUNCIL, best_expert="alpha"),
                   store=store).run()
    assert "new --out" in (caught.value.hint or "")


def test_samples_of_one_model_are_asked_for_together(scripted_council: Callable[..., ScriptedCouncil]) -> None:
    council = scripted_council()
    runner = EvalRunner(council.mind, EvalSettings(n=1, seed=1, batch=3, experts=COUNCIL, best_expert="alpha"))
    problem = generate_problems("arithmetic", 1, seed=1)[0]
    threads: set[str] = set()

    def job(i: int) -> Attempt:
        threads.add(threading.current_thread().name)
        time.sleep(0.05)
        return runner.replies.sample("alpha", problem, i)

    start = time.perf_counter()
    attempts = runner.replies.batched([partial(job, i) for i in range(6)])
    wall = time.perf_counter() - start
    assert len(attempts) == 6 and len(threads) == 3
    assert abs(sum(a.seconds for a in attempts) - wall) < 0.05, "shared-out seconds add up to the wall time"


def test_a_layout_run_takes_single_select_and_samples_from_an_earlier_run_and_debates_again(
        scripted_council: Callable[..., ScriptedCouncil], tmp_path: Path) -> None:
    private = EvalSettings(n=3, seed=2, rounds=1, experts=COUNCIL, best_expert="alpha")
    earlier = EvalRunner(scripted_council().mind, private, store=RunStore(tmp_path / "private")).run()
    council = scripted_council()
    shared = private.model_copy(update={"transcript": "shared", "reuse": str(tmp_path / "private"), "batch": 2})
    run = EvalRunner(council.mind, shared, store=RunStore(tmp_path / "shared")).run()
    for old, new in zip(earlier.problems, run.problems, strict=True):
        assert new.reused == ("single", "select", "samples")
        assert (new.single, new.select) == (old.single, old.select)
        assert new.samples[:len(old.samples)] == old.samples
        assert new.selective.session_id != old.selective.session_id, "the debates ran again"
    asked = [t for t in council.turns if t.kind != "warm-up"]
    assert asked and all(t.temperature != 0.0 or t.layout == "shared" for t in asked if t.kind == "first"), \
        "no single greedy answer was generated again: every first answer is a council's, in the shared layout"
    assert {t.layout for t in asked if t.kind in ("first", "revision")} == {"shared"}
    assert run.choice == earlier.choice and run.council == earlier.council


def test_reuse_refuses_a_run_with_other_settings_or_no_run_at_all(
        scripted_council: Callable[..., ScriptedCouncil], tmp_path: Path) -> None:
    settings = EvalSettings(n=2, seed=3, rounds=1, experts=COUNCIL, best_expert="alpha")
    EvalRunner(scripted_council().mind, settings, store=RunStore(tmp_path / "a")).run()
    other = settings.model_copy(update={"max_tokens": 200, "transcript": "shared", "reuse": str(tmp_path / "a")})
    with pytest.raises(InvalidRequestError, match=r"was run with other settings \(max_tokens differ\)"):
        EvalRunner(scripted_council().mind, other, store=RunStore(tmp_path / "b")).run()
    nothing = settings.model_copy(update={"reuse": str(tmp_path / "empty")})
    with pytest.raises(InvalidRequestError, match="holds no eval run"):
        EvalRunner(scripted_council().mind, nothing, store=RunStore(tmp_path / "c")).run()


def test_a_council_temperature_asks_every_council_answer_at_it_and_the_report_says_so(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    own = scripted_council().mind.config.expert("beta").sampling.temperature
    assert own != 0.0, "the scripted experts sample by default, so the override is visible"
    council = scripted_council()
    settings = EvalSettings(n=1, seed=3, rounds=1, experts=COUNCIL, best_expert="alpha", council_temperature=0.0)
    run = EvalRunner(council.mind, settings).run()
    revisions = [t for t in council.turns if t.kind == "revision"]
    assert revisions and {t.temperature for t in revisions} == {0.0}, "revisions answer greedily too"
    beta = {t.temperature for t in council.turns if t.kind == "first" and t.expert == "beta"}
    assert 0.0 in beta, beta  # beta's first answers for vote and debate; select's samples stay at their own
    setup = "\n".join(_setup_lines(build_report(run)))
    assert "council experts answer at temperature 0.0" in setup


def test_a_council_reply_counts_as_cut_off_when_its_synthesis_or_chosen_position_used_every_token(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    problem = generate_problems("arithmetic", 1, 0)[0]
    result = scripted_council().mind.debate(problem.prompt, experts=["alpha", "beta"], rounds=0, mode="parallel",
                                            seed=7)  # seeded: every reply has its own words
    spent = sum(p.tokens for record in result.history for p in record.positions)  # the experts' share of the total
    assert not council_cut_off(result.model_copy(update={"tokens": spent + 7}), max_tokens=8)
    assert council_cut_off(result.model_copy(update={"tokens": spent + 8}), max_tokens=8), "the synthesis hit 8"
    position = result.history[0].positions[0]
    picked = result.model_copy(update={"answer": position.text})  # a vote's or select's pick is that position
    assert council_cut_off(picked, max_tokens=position.tokens)
    assert not council_cut_off(picked, max_tokens=position.tokens + 1)


def test_the_vote_weighs_first_answers_by_confidence_while_first_vote_stays_a_count(
        scripted_council: Callable[..., ScriptedCouncil]) -> None:
    def alpha_off_by_one(turn: Turn) -> int | None:
        return (turn.key or 0) + 1 if turn.expert == "alpha" and turn.kind == "first" else turn.key

    def alpha_sure(_target: object, request: object) -> float:
        return -0.05 if read_turn(request).expert == "alpha" else -2.0  # type: ignore[arg-type]

    council = scripted_council(alpha_off_by_one, confidence=alpha_sure)
    run = EvalRunner(council.mind, EvalSettings(n=2, seed=3, rounds=1, experts=("alpha", "beta"),
                                                best_expert="beta")).run()
    for p in run.problems:
        assert p.vote.first_vote is None, "counted, the two experts split"
        assert p.vote.reply.extracted == p.problem.answer + 1, "weighted, the surer expert wins"
        assert all(j.mean_logprob is not None for j in p.vote.positions)
    assert "weighted by confidence" in {s.method: s for s in build_report(run).scores}["vote"].label
