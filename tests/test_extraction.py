"""Answer extraction: the strict rule over tricky replies, the lenient rule over real replies of the shipped models."""

from __future__ import annotations

import pytest

from livemind.extraction import extract_answer

ANSWERED = [
    ("Answer: 42", 42),
    ("First 3*4 = 12, then 12+30 = 42.\nAnswer: 42", 42),
    ("Answer: -713", -713),
    ("Answer: \u2212713", -713),
    ("answer:17", 17),
    ("ANSWER :  17.", 17),
    ("**Answer:** 42", 42),
    ("**Answer: 42**", 42),
    ("### Answer: 0", 0),
    ("`Answer: 5`", 5),
    ("Working: 5*6 = 30 and 30-8 = 22.\n\nAnswer: 22\n", 22),
    ("Answer: 9\nI hope this helps!", 9),
    ("Answer: 12\nAnswer: 12", 12),
]

UNANSWERED = [
    ("", "no answer line"),
    ("The answer is 42.", "no answer line"),
    ("So the final answer: 42", "no answer line"),
    ("42", "no answer line"),
    ("3+4*5 = 23, and 23-6 = 17", "no answer line"),
    ("Answer: forty-two", "malformed answer line"),
    ("Answer: 42 apples", "malformed answer line"),
    ("Answer: 3+4=7", "malformed answer line"),
    ("Answer: 42 or 43", "malformed answer line"),
    ("Answer: 42.5", "malformed answer line"),
    ("Answer: 1,234", "malformed answer line"),
    ("Answer: - 7", "malformed answer line"),
    ("Answer:", "malformed answer line"),
    ("Answer: 12\nAnswer: 13", "conflicting answer lines"),
    ("Answer: 5\nWait, that is wrong.\nAnswer: -5", "conflicting answer lines"),
]


@pytest.mark.parametrize(("reply", "expected"), ANSWERED)
def test_strict_rule_extracts_a_well_formed_answer_line(reply: str, expected: int) -> None:
    extraction = extract_answer(reply, "strict")
    assert extraction.value == expected
    assert extraction.is_answered and extraction.failure is None


@pytest.mark.parametrize(("reply", "failure"), UNANSWERED)
def test_strict_rule_gives_no_answer_for_the_wrong_format(reply: str, failure: str) -> None:
    extraction = extract_answer(reply, "strict")
    assert extraction.value is None and not extraction.is_answered
    assert extraction.failure == failure
