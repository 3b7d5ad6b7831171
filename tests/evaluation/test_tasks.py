"""Seeded task generation: same seed, same problems; keys that match the questions."""

from __future__ import annotations

import re

import pytest

from livemind.council.extraction import ANSWER_INSTRUCTION
from livemind.evaluation.tasks import TASKS, generate_problems, held_out_problems

ARITHMETIC = re.compile(r"^What is the result of (\d+)\+(\d+)\*(\d+)\+(\d+)-(\d+)\*(\d+)\?$")


@pytest.mark.parametrize("task", sorted(TASKS))
def test_the_same_seed_generates_the_same_problems(task: str) -> None:
    assert generate_problems(task, 20, seed=7) == generate_problems(task, 20, seed=7)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_a_different_seed_generates_different_problems(task: str) -> None:
    first = [p.question for p in generate_problems(task, 20, seed=7)]
    other = [p.question for p in generate_problems(task, 20, seed=8)]
    assert len(set(first) & set(other)) < 3


@pytest.mark.parametrize("task", sorted(TASKS))
def test_asking_for_more_problems_keeps_the_first_ones(task: str) -> None:
    assert generate_problems(task, 40, seed=3)[:15] == generate_problems(task, 15, seed=3)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_problems_in_one_set_are_all_different(task: str) -> None:
    problems = generate_problems(task, 200, seed=1)
    assert len({p.question for p in problems}) == len(problems)
    assert len({p.id for p in problems}) == len(problems)


def test_arithmetic_has_du_et_al_form_with_six_integers_from_0_to_30() -> None:
    problems = generate_problems("arithmetic", 300, seed=0)
    seen: set[int] = set()
    for p in problems:
        match = ARITHMETIC.match(p.question)
        assert match, p.question
        a, b, c, d, e, f = (int(x) for x in match.groups())
        seen.update((a, b, c, d, e, f))
        assert p.answer == a + b * c + d - e * f
    assert min(seen) == 0 and max(seen) == 30, "the whole 0-30 range is drawn"
    assert any(p.answer < 0 for p in problems), "negative results occur and must be extractable"


def test_word_problem_keys_follow_from_their_working() -> None:
    problems = generate_problems("word", 300, seed=0)
    templates = {" ".join(p.question.split()[:2]) for p in problems}
    assert len(templates) >= 5, "every template is drawn"
    for p in problems:
        left, _, right = p.working.partition(" = ")
        assert eval(left) == p.answer == int(right), p.working
        assert p.answer >= 0
        assert sum(ch.isdigit() for ch in p.question) >= 4


def test_prompts_ask_for_the_answer_line() -> None:
    for task in TASKS:
        problem = generate_problems(task, 1, seed=0)[0]
        assert problem.prompt.startswith(problem.question)
        assert problem.prompt.endswith(ANSWER_INSTRUCTION)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_pilot_questions_never_repeat_a_test_question(task: str) -> None:
    test = generate_problems(task, 200, seed=5)
    pilot = held_out_problems(task, 50, 5, test)
    assert not {p.question for p in pilot} & {p.question for p in test}
    assert all(p.id.startswith(f"{task}-pilot-") for p in pilot)
