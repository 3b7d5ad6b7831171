"""Seeded tasks whose answers a program can check, so the eval needs no data set.

- `arithmetic`: the form Du et al. (2023) used, `a+b*c+d-e*f` with six integers from 0 to 30.
- `word`: multi-step word problems (three or four operations) over small integers, from a
  handful of templates written for this project.

Every problem comes from its own `random.Random` seeded by (task, split, seed, index), so a
seed gives the same problems on every machine and the first n problems do not change when
more are asked for. The `pilot` split is held out: it is used to choose the best expert and
never overlaps the `test` split that is scored.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from livemind.council.extraction import ANSWER_INSTRUCTION
from livemind.types import Value

Split = Literal["test", "pilot"]
MAX_DRAWS_PER_PROBLEM = 50


class Problem(Value):
    """One question with its keyed answer."""

    id: str
    task: str
    question: str
    answer: int
    working: str

    @property
    def prompt(self) -> str:
        """What the experts are asked: the question and the answer-line instruction."""
        return f"{self.question}\n{ANSWER_INSTRUCTION}"


Drawn = tuple[str, int, str]
"""(question, answer, working) drawn by a task family from its random source."""


@dataclass(frozen=True)
class TaskFamily:
    """A named generator of problems."""

    name: str
    description: str
    draw: Callable[[random.Random], Drawn]


def _arithmetic(rng: random.Random) -> Drawn:
    a, b, c, d, e, f = (rng.randint(0, 30) for _ in range(6))
    expression = f"{a}+{b}*{c}+{d}-{e}*{f}"
    answer = a + b * c + d - e * f
    return f"What is the result of {expression}?", answer, f"{expression} = {answer}"


def _bakery(rng: random.Random) -> Drawn:
    trays, per_tray = rng.randint(3, 9), rng.randint(4, 12)
    sold = rng.randint(5, trays * per_tray - 1)
    baked = rng.randint(5, 40)
    answer = trays * per_tray - sold + baked
    question = (f"A baker makes {trays} trays of {per_tray} rolls each. She sells {sold} rolls in the morning "
                f"and bakes {baked} more rolls in the afternoon. How many rolls does she have at the end of the day?")
    return question, answer, f"{trays}*{per_tray} - {sold} + {baked} = {answer}"


def _marbles(rng: random.Random) -> Drawn:
    friends, each = rng.randint(2, 6), rng.randint(2, 8)
    start = friends * each + rng.randint(5, 40)
    bags, per_bag = rng.randint(2, 5), rng.randint(3, 10)
    answer = start - friends * each + bags * per_bag
    question = (f"Tom has {start} marbles. He gives {each} marbles to each of his {friends} friends, then buys "
                f"{bags} bags with {per_bag} marbles in each bag. How many marbles does Tom have now?")
    return question, answer, f"{start} - {friends}*{each} + {bags}*{per_bag} = {answer}"


def _train(rng: random.Random) -> Drawn:
    start = rng.randint(20, 80)
    off = rng.randint(1, start - 5)
    on = rng.randint(1, 40)
    if (start - off + on) % 2:
        on += 1
    answer = (start - off + on) // 2
    question = (f"A train leaves the station with {start} passengers. At the first stop {off} passengers get off "
                f"and {on} get on. At the second stop half of the passengers get off. "
                f"How many passengers are still on the train?")
    return question, answer, f"({start} - {off} + {on}) / 2 = {answer}"


def _pencils(rng: random.Random) -> Drawn:
    boxes, per_box = rng.randint(4, 12), rng.randint(6, 24)
    classes = rng.randint(2, 6)
    each = rng.randint(1, max(1, boxes * per_box // classes - 1))
    answer = boxes * per_box - classes * each
    question = (f"A school orders {boxes} boxes of {per_box} pencils. Each of its {classes} classes receives "
                f"{each} pencils. How many pencils are left over?")
    return question, answer, f"{boxes}*{per_box} - {classes}*{each} = {answer}"


def _savings(rng: random.Random) -> Drawn:
    weeks, weekly = rng.randint(3, 10), rng.randint(5, 20)
    start = rng.randint(0, 50)
    price = rng.randint(5, start + weeks * weekly)
    answer = start + weeks * weekly - price
    question = (f"Mia has {start} dollars. She saves {weekly} dollars every week for {weeks} weeks, then spends "
                f"{price} dollars on a bicycle. How many dollars does she have left?")
    return question, answer, f"{start} + {weeks}*{weekly} - {price} = {answer}"


_WORD_TEMPLATES: tuple[Callable[[random.Random], Drawn], ...] = (_bakery, _marbles, _train, _pencils, _savings)


def _word(rng: random.Random) -> Drawn:
    return rng.choice(_WORD_TEMPLATES)(rng)


TASKS: dict[str, TaskFamily] = {
    "arithmetic": TaskFamily("arithmetic", "Du et al. arithmetic: a+b*c+d-e*f, six integers from 0 to 30", _arithmetic),
    "word": TaskFamily("word", "multi-step word problems (three or four operations, integer answers)", _word),
}


def task_family(name: str) -> TaskFamily:
    """A task family by name; KeyError for an unknown one (the CLI offers only the names in TASKS)."""
    return TASKS[name]


def generate_problems(task: str, n: int, seed: int, *, split: Split = "test",
                      avoid: frozenset[str] = frozenset()) -> list[Problem]:
    """n problems of a task for a seed; questions in `avoid` (or repeated) are drawn again."""
    family = task_family(task)
    seen = set(avoid)
    problems: list[Problem] = []
    for index in range(n):
        for draw in range(MAX_DRAWS_PER_PROBLEM):
            rng = random.Random(f"{task}/{split}/{seed}/{index}/{draw}")
            question, answer, working = family.draw(rng)
            if question not in seen:
                break
        seen.add(question)
        problems.append(Problem(id=f"{task}-{split}-{seed}-{index:04d}", task=task, question=question,
                                answer=answer, working=working))
    return problems


def held_out_problems(task: str, n: int, seed: int, test: list[Problem]) -> list[Problem]:
    """Pilot problems for the same task and seed that share no question with the test problems."""
    return generate_problems(task, n, seed, split="pilot", avoid=frozenset(p.question for p in test))
