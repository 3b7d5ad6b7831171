"""The greedy persona study: one greedy reply per persona and question, votes counted after, choices on the pilot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from livemind.errors import InvalidRequestError
from livemind.evaluation.persona_vote import (
    PersonaPlan,
    PersonaQuestion,
    PersonaReply,
    PersonaVoteRunner,
    PersonaVoteSettings,
    measured_council,
    vote_of,
)
from livemind.evaluation.persona_vote_report import build_study_report, study_markdown, write_study
from livemind.evaluation.tasks import Problem
from livemind.types import GenerationRequest
from tests.evaluation.conftest import ScriptedCouncil, Turn, read_turn


def _question(key: int, answers: dict[str, tuple[int | None, float | None]], index: int = 0) -> PersonaQuestion:
    problem = Problem(id=f"t-{index}", task="arithmetic", question=f"q{index}", answer=key, working="")
    replies = tuple(PersonaReply(expert=name, text=f"Answer: {value}", extracted=value, is_correct=value == key,
                                 tokens=10, prompt_tokens=5, mean_logprob=logprob, is_cut_off=False, seconds=0.1)
                    for name, (value, logprob) in answers.items())
    return PersonaQuestion(problem=problem, replies=replies, seconds=0.3)


def test_weighted_vote_follows_the_more_confident_persona_where_counting_splits() -> None:
    q = _question(7, {"a": (7, -0.1), "b": (9, -0.9)})
    weighted, counted = vote_of(q, ("a", "b"), weighted=True), vote_of(q, ("a", "b"), weighted=False)
    assert weighted.winner == 7 and not weighted.is_split and weighted.share > 0.5
    assert counted.winner is None and counted.is_split and counted.share == 0.5


def test_weighted_vote_counts_when_a_reply_has_no_confidence() -> None:
    q = _question(7, {"a": (7, -0.1), "b": (9, None)})
    assert vote_of(q, ("a", "b"), weighted=True).is_split


def test_measured_council_prefers_the_subset_right_most_often_on_the_pilot_then_the_smaller() -> None:
    # c is right only when a is wrong and is confident then: {a, c} is right on all three questions
    pilot = [_question(1, {"a": (1, -0.2), "b": (1, -0.5), "c": (2, -0.9)}, 0),
             _question(1, {"a": (2, -0.9), "b": (2, -0.5), "c": (1, -0.1)}, 1),
             _question(1, {"a": (1, -0.3), "b": (3, -0.2), "c": (4, -0.9)}, 2)]
    council, reason = measured_council(pilot, ("a", "b", "c"))
    assert council == ("a", "c")
    assert "3 of 3" in reason


def test_report_scores_every_row_from_the_same_replies_and_compares_with_the_best_single(tmp_path: Path) -> None:
    questions = [_question(5, {"a": (5, -0.1), "b": (6, -0.5), "c": (5, -0.7)}, 0),
                 _question(5, {"a": (4, -0.6), "b": (5, -0.2), "c": (5, -0.3)}, 1),
                 _question(5, {"a": (5, -0.2), "b": (5, -0.2), "c": (5, -0.2)}, 2)]
    plan = PersonaPlan(settings=PersonaVoteSettings(n=3), experts=("a", "b", "c"), router_council=("a", "b"),
                       router_reason="r", best_expert="a", best_reason="pilot", measured_council=("a", "b", "c"),
                       measured_reason="m", pilot=(), model="m.gguf", started_at="now")
    report = build_study_report(plan, questions)
    rows = {r.label: r for r in report.rows}
    single = rows["best single persona (a, greedy)"]
    assert (single.correct, single.n) == (2, 3)
    every = rows["measured council = every persona (a, b, c): weighted vote"]
    assert every.correct == 3 and every.wins == 1 and every.losses == 0
    router_counted = rows["router's council (a, b): counted vote"]
    assert router_counted.splits == 2 and router_counted.correct == 1
    assert rows["router's council: oracle (some persona right)"].correct == 3
    assert every.unanimous == "1/1" and every.split_accuracy == "2/2"
    files = write_study(report, tmp_path)
    assert all(f.exists() and f.stat().st_size > 0 for f in files)
    assert "Best single persona: **a**" in study_markdown(report)


def test_runner_asks_each_persona_once_greedy_chooses_on_the_pilot_and_resumes(
        scripted_council: Callable[..., ScriptedCouncil], tmp_path: Path) -> None:
    def beta_off_by_one(turn: Turn) -> int | None:
        return None if turn.key is None else turn.key + (1 if turn.expert == "beta" else 0)

    def confident_alpha(_target: object, request: GenerationRequest) -> float:
        return -0.1 if read_turn(request).expert == "alpha" else -0.8

    council = scripted_council(beta_off_by_one, confidence=confident_alpha)
    settings = PersonaVoteSettings(n=3, pilot_n=2, seed=3)
    plan, questions = PersonaVoteRunner(council.mind, settings, tmp_path).run()
    firsts = [t for t in council.turns if t.kind == "first"]
    assert len(firsts) == 3 * (2 + 3) and all(t.temperature == 0.0 for t in firsts)
    assert plan.best_expert in ("alpha", "gamma") and "beta" not in plan.measured_council
    assert all(not q.reply("beta").is_correct and q.reply("alpha").is_correct for q in questions)
    assert all(q.reply("alpha").mean_logprob == pytest.approx(-0.1) for q in questions)
    council.turns.clear()
    PersonaVoteRunner(council.mind, settings, tmp_path).run()  # resumes: nothing asked again
    assert [t for t in council.turns if t.kind == "first"] == []
    with pytest.raises(InvalidRequestError, match="other settings"):
        PersonaVoteRunner(council.mind, settings.model_copy(update={"max_tokens": 99}), tmp_path).run()


def test_runner_refuses_a_single_persona(scripted_council: Callable[..., ScriptedCouncil], tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError, match="at least two"):
        PersonaVoteRunner(scripted_council().mind, PersonaVoteSettings(experts=("alpha",)), tmp_path)
