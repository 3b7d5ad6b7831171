"""Answer extraction: the strict rule over tricky replies, the lenient rule over real replies of the shipped models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livemind.council.extraction import extract_answer

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


REAL_REPLIES = json.loads((Path(__file__).parent / "fixtures" / "replies.json").read_text(encoding="utf-8"))
"""Greedy replies of the shipped Qwen models, captured by tools/capture_replies.py; `expected` was filled in
by a person reading each reply (the number it gives as its final answer, or null when it gives none)."""


@pytest.mark.parametrize("record", REAL_REPLIES, ids=lambda r: f"{r['model']}/{r['style']}/{r['key']}")
def test_lenient_rule_reads_real_replies_as_a_careful_reader_would(record: dict[str, object]) -> None:
    extraction = extract_answer(str(record["reply"]), is_cut_off=record["finish_reason"] == "length")
    assert extraction.value == record["expected"], record["reply"]
    if record["expected"] is None:
        assert extraction.failure == "no answer found"


def test_real_replies_cover_every_form_and_replies_that_must_not_parse() -> None:
    forms = {extract_answer(str(r["reply"]), is_cut_off=r["finish_reason"] == "length").form for r in REAL_REPLIES}
    assert {"answer line", "boxed"} <= forms
    assert any(r["expected"] is None and r["finish_reason"] == "length" for r in REAL_REPLIES)


@pytest.mark.parametrize(("reply", "expected"), [
    ("Therefore, the result of 13+26*24+15-23*3 is Answer: 583", 583),
    ("So we get \\(\\boxed{-20}\\).", -20),
    ("The final answer is $\\boxed{1,234}$.", 1234),
    ("Thus the answer is **42**.", 42),
    ("3 * 4 = 12\n12 + 30 = 42", 42),
    ("Answer: 3+4 = 7", 7),
    ("\\[\n17 + 5 - 42 = -20\n\\]", -20),
])
def test_lenient_rule_reads_each_documented_form(reply: str, expected: int) -> None:
    assert extract_answer(reply).value == expected


@pytest.mark.parametrize("reply", [
    "First, multiply 6 and 7:\n\\[\n6 \\times 7 = 42\n\\]\n- Finally, add 17 and 5:",  # cut off mid-working
    "I think it is probably around forty.",
    "The result is 12.5",
    "\\boxed{x + 5}",
])
def test_lenient_rule_guesses_nothing_from_prose_or_unfinished_working(reply: str) -> None:
    assert extract_answer(reply).value is None


SYNTHESIS = ("Verdict: {verdict}\n\nBecause: Both experts computed 7 * 6 = 42, then 42 - 23 + 19.\n\n"
             "But: The question could mean 3 other trays.\n\nDisagreement: none")


@pytest.mark.parametrize(("verdict", "expected"), [
    ("The baker has 38 rolls at the end of the day.", 38),
    ("At the end of the day, the baker has **110 rolls**.", 110),
    ("Mia has $99 left.", 99),
    ("33", 33),
    ("Expert A's answer is correct because it counts every tray.", None),  # no number: no answer
    ("After 10 weeks Mia has 99 dollars.", None),  # two numbers: which one is the answer is a guess
])
def test_a_synthesis_that_states_its_number_only_in_the_verdict_is_read_from_it(verdict: str,
                                                                               expected: int | None) -> None:
    extraction = extract_answer(SYNTHESIS.format(verdict=verdict))
    assert extraction.value == expected
    assert extraction.form == ("verdict line" if expected is not None else None)
    assert extract_answer(SYNTHESIS.format(verdict=verdict), "strict").value is None


def test_an_answer_line_outranks_the_verdict_and_only_the_last_verdict_counts() -> None:
    assert extract_answer(SYNTHESIS.format(verdict="41 pencils.") + "\nAnswer: 42").value == 42
    assert extract_answer("Verdict: 12 rolls\nVerdict: 3 trays and 14 rolls").value is None


def test_the_answer_stated_last_wins_and_a_cut_off_reply_is_not_read_by_its_last_step() -> None:
    assert extract_answer("Answer: 102\nworking...\n106 - 360 = -254\nSo the result is \\boxed{-254}.").value == -254
    cut = "1. First multiply:\n   - Multiplication: \\(24 \\times 14 = 336\\"
    assert extract_answer(cut).value == 336 and extract_answer(cut, is_cut_off=True).value is None
