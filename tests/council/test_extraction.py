"""Answer extraction: the strict rule over tricky replies, the lenient rule over real replies of the shipped models,
and the one reading every method's reply gets (the stored word-problem replies it used to misread)."""

from __future__ import annotations

import json

import pytest

from livemind.council.extraction import extract_answer
from livemind.evaluation.reading import is_cut_off, read_reply
from livemind.evaluation.store import RunStore
from tests.support.servers import REPO

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


REAL_REPLIES = json.loads((REPO / "tests" / "fixtures" / "replies.json").read_text(encoding="utf-8"))
"""Greedy replies of the shipped Qwen models, captured by tools/capture_replies.py; `expected` was filled in
by a person reading each reply (the number it gives as its final answer, or null when it gives none)."""
WORD_VERDICT = REPO / "docs" / "eval" / "word-verdict"
"""A committed eval run: its single expert's replies to questions 3 and 12 state their numbers in prose."""


@pytest.mark.parametrize("record", REAL_REPLIES, ids=lambda r: f"{r['model']}/{r['style']}/{r['key']}")
def test_lenient_rule_reads_real_replies_as_a_careful_reader_would(record: dict[str, object]) -> None:
    extraction = extract_answer(str(record["reply"]), is_cut_off=record["finish_reason"] == "length", is_numeric=True)
    assert extraction.value == record["expected"], record["reply"]
    if record["expected"] is None:
        assert extraction.failure == "no answer found"


def test_real_replies_cover_every_form_and_replies_that_must_not_parse() -> None:
    forms = {extract_answer(str(r["reply"]), is_cut_off=r["finish_reason"] == "length", is_numeric=True).form
             for r in REAL_REPLIES}
    assert {"answer line", "boxed"} <= forms
    assert any(r["expected"] is None and r["finish_reason"] == "length" for r in REAL_REPLIES)


@pytest.mark.parametrize(("index", "key"), [(2, 33), (11, 51)])
def test_the_single_experts_stored_word_replies_that_state_their_number_in_prose_are_read(index: int, key: int) -> None:
    # 002 ends "...still on the train is **33**." and a remark without a number; 011 "Mia has **51 dollars** left."
    store = RunStore(WORD_VERDICT)
    plan, kept = store.saved_plan(), store.question(index)
    assert plan is not None and kept is not None and kept.problem.answer == key
    reply = kept.single
    assert not is_cut_off(reply.tokens, plan.settings.max_tokens), "the reply finished: it was not cut off"
    extraction = read_reply(reply.text, plan.settings.extraction, is_cut_off=False)
    assert extraction.value == key and extraction.form == "last number"


@pytest.mark.parametrize(("reply", "expected"), [
    ("Therefore, the result of 13+26*24+15-23*3 is Answer: 583", 583),
    ("So we get \\(\\boxed{-20}\\).", -20),
    ("The final answer is $\\boxed{1,234}$.", 1234),
    ("Thus the answer is **42**.", 42),
    ("Answer: 3+4 = 7", 7),
    ("**Conclusion:** The baker has 38 rolls at the end of the day.", 38),
    ("Verdict: At the end of the day, the baker has **110 rolls**.", 110),
])
def test_lenient_rule_reads_each_stated_form(reply: str, expected: int) -> None:
    assert extract_answer(reply).value == expected
    assert extract_answer(reply, is_numeric=True).value == expected, "a stated answer wins before any fallback"


@pytest.mark.parametrize(("reply", "expected"), [
    ("3 * 4 = 12\n12 + 30 = 42", 42),
    ("\\[\n17 + 5 - 42 = -20\n\\]", -20),
    ("So the train has **33** passengers.\n\nThis shows how to track passengers at each stop.", 33),
    ("Therefore, Mia has **51 dollars** left.", 51),
    ("The train had 40 people.\n2. Nobody got off at the second stop.", 40),  # a list's item number is no answer
])
def test_a_reply_to_a_numeric_question_that_states_no_answer_is_read_by_its_last_number(reply: str,
                                                                                      expected: int) -> None:
    extraction = extract_answer(reply, is_numeric=True)
    assert extraction.value == expected and extraction.form == "last number"
    assert extract_answer(reply).value is None, "without a numeric question nothing is guessed"
    assert extract_answer(reply, is_numeric=True, is_cut_off=True).value is None, "nor from a cut-off reply"


@pytest.mark.parametrize(("reply", "is_numeric", "was_cut_off"), [
    ("First, multiply 6 and 7:\n\\[\n6 \\times 7 = 42\n\\]\n- Finally, add 17 and 5:", True, True),
    ("I think it is probably around forty.", True, False),
    ("The result is 12.5", True, False),  # not an integer
    ("AI could replace many jobs within 20 years.", False, False),  # an open question asks for no number
])
def test_lenient_rule_guesses_nothing_from_prose_or_unfinished_working(reply: str, is_numeric: bool,
                                                                        was_cut_off: bool) -> None:
    assert extract_answer(reply, is_numeric=is_numeric, is_cut_off=was_cut_off).value is None


def test_a_box_around_an_expression_states_no_answer() -> None:
    assert extract_answer("\\boxed{x + 5}").value is None
    assert extract_answer("\\boxed{x + 5}", is_numeric=True).form == "last number", "only the fallback reads it"


SYNTHESIS = ("{label}: {verdict}\n\nBecause: Both experts computed 7 * 6 = 42, then 42 - 23 + 19.\n\n"
             "But: The question could mean 3 other trays.\n\nDisagreement: none")


@pytest.mark.parametrize("label", ["Verdict", "Conclusion", "**Conclusion**"])
@pytest.mark.parametrize(("verdict", "expected"), [
    ("The baker has 38 rolls at the end of the day.", 38),
    ("At the end of the day, the baker has **110 rolls**.", 110),
    ("Mia has $99 left.", 99),
    ("33", 33),
])
def test_a_conclusion_line_is_read_alike_whoever_labels_it(label: str, verdict: str, expected: int) -> None:
    # the synthesiser's template opens with `Verdict:`, the experts write `Conclusion:`: one form, one reading
    extraction = extract_answer(SYNTHESIS.format(label=label, verdict=verdict), is_numeric=True)
    assert extraction.value == expected and extraction.form == "conclusion line"
    assert extract_answer(SYNTHESIS.format(label=label, verdict=verdict), "strict").value is None


@pytest.mark.parametrize("verdict", [
    "Expert A's answer is correct because it counts every tray.",  # no number
    "After 10 weeks Mia has 99 dollars.",  # two numbers: which one is the answer is a guess
])
def test_a_conclusion_line_without_one_number_is_no_stated_answer_and_the_fallback_applies_as_anywhere(
        verdict: str) -> None:
    reply = SYNTHESIS.format(label="Verdict", verdict=verdict)
    assert extract_answer(reply).value is None
    assert extract_answer(reply, is_numeric=True).value == 3, "the reply's last number, as in any other reply"


def test_the_answer_stated_last_wins_and_a_cut_off_reply_is_not_read_by_its_last_step() -> None:
    assert extract_answer("Answer: 102\nworking...\n106 - 360 = -254\nSo the result is \\boxed{-254}.").value == -254
    assert extract_answer(SYNTHESIS.format(label="Verdict", verdict="41 pencils.") + "\nAnswer: 42").value == 42
    cut = "1. First multiply:\n   - Multiplication: \\(24 \\times 14 = 336\\"
    assert extract_answer(cut, is_numeric=True).value == 336
    assert extract_answer(cut, is_numeric=True, is_cut_off=True).value is None
