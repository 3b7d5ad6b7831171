"""Which questions count as asking for a Python function (what sends a council call with no strategy to `code`)."""

from __future__ import annotations

import pytest

from livemind.council.code.consensus import code_question
from livemind.council.code.requests import asks_for_function, is_code_first


@pytest.mark.parametrize("question", [
    "Write a Python function roman_to_int(s) that converts a Roman numeral to an integer.",
    "write me a function that reverses a list",
    "Implement the function below.\n\ndef add(a, b):\n    '''Return a + b.'''",
    "Can you create a recursive python function for the Fibonacci numbers?",
    "def is_prime(n: int) -> bool:\n    \"\"\"Whether n is prime.\"\"\"",
    "Complete this function so that it sorts the words by length.",
    "Give me a function in Python to merge two dicts.",
])
def test_requests_for_a_python_function_are_recognised(question: str) -> None:
    assert asks_for_function(question)


@pytest.mark.parametrize("question", [
    "What does this function do?",
    "Explain how the function of the heart differs from the lungs.",
    "Write a short essay about the function of money.",
    "Write a JavaScript function that debounces a callback.",
    "Write a function in Go that reverses a slice.",
    "What is 17 * 23?",
    "Write a haiku about autumn.",
])
def test_other_questions_are_not(question: str) -> None:
    assert not asks_for_function(question)


def test_a_python_function_wins_over_another_language_named_beside_it() -> None:
    assert asks_for_function("Port this JavaScript helper to a Python function: write the function slugify(text).")


def test_the_code_first_instruction_is_recognised_so_it_is_added_once() -> None:
    asked = code_question("Write a function add(a, b).", entry_point="add")
    assert is_code_first(asked) and not is_code_first("Write a function add(a, b).")
