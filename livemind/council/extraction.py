"""Reading a final answer out of a model's reply: one extractor for the eval, voting and agreement.

Every reply is read by the same rule, whoever wrote it: an expert, a self-consistency sample or
the synthesiser. The rule never asks which method wrote a reply.

Two rules, chosen by name:

`lenient` (the default) first looks for an answer the reply *states*, in the forms capable small
models really write; the one stated last in the reply wins, as a careful reader would take it
(Qwen2.5-Coder-0.5B may open with "Answer: 102", work it out, and close with `\\boxed{-254}`):

1. **Answer lines.** A line that holds `Answer:` or `Final answer:` (any case; markdown
   decoration such as `**Answer:** 42` is ignored), at its start or after a lead-in such as
   "Therefore, the result is Answer: 583". A line that holds a number gives the first number
   after its colon, or after its last `=` ("Answer: 42 apples" is 42, "Answer: 3+4 = 7" is 7).
2. **Conclusion lines.** A line labelled `Conclusion:` or `Verdict:` that states exactly one
   number ("Verdict: Tom has 55 marbles now." is 55; "Conclusion: after 10 weeks she has 99
   dollars" states two and is no answer). Experts write `Conclusion:` lines (18 of the 370
   distinct expert replies stored under docs/eval) and the synthesis template opens with
   `Verdict:`; both are read alike. It grew out of a `Verdict:` rule written for the synthesiser
   after reading the word-problem replies it was then scored on: only a run on other questions
   (another `--seed`) tests it fairly.
3. **`\\boxed{N}`**, LaTeX's way to mark a result (Qwen2.5 writes it even when asked for an
   answer line). A box must hold a number (or `x = N`); `\\boxed{x + 5}` states no answer.
4. **A closing phrase**: "the final answer is N", "the answer is N", "the result is N"
   (also with "=" or ":" and markdown or `$` around the number).

When a reply states none of these, **one fallback**, the same for every reply, and only when the
question asks for a number (`is_numeric=True`; every eval question does):

5. **The last number in the reply**, that is, the last number of its last sentence that holds
   one, bold or not, with units after it or not: "...still on the train is **33**." followed by a
   sentence without a number is 33; "Mia has **51 dollars** left." is 51; a worked calculation
   that ends `... - 300 = 14` is 14. A list's item number ("3. **Second stop**") is not read. A
   reply cut off at its token limit gets no fallback: its last number is a step of unfinished
   working, not a result. Without `is_numeric` nothing is guessed: the council's own vote
   (`tally`) reads open questions too, where "within 20 years" does not answer 20.

`strict` accepts only an `Answer: <integer>` line, exactly one integer on each such line, and
all such lines agreeing: "The answer is 42", "Answer: 42 apples" and two conflicting answer
lines all have no answer. It is the format-following test: `livemind eval --extraction strict`.

Numbers may carry a leading minus (ASCII or Unicode), thousands separators (`1,234`) and a
trailing `.0`; anything with a non-zero fraction is not an integer answer.
"""

from __future__ import annotations

import re
from typing import Literal

from livemind.types import Value

ANSWER_INSTRUCTION = "Work it out step by step, then end with a final line of the form `Answer: <number>`."
"""Asked of every eval question. Asking only for the answer line made Qwen2.5-Coder-1.5B skip the working
(6 tokens, 0 of 6 right); asking for the working first keeps it."""

ExtractionRule = Literal["lenient", "strict"]
ExtractionFailure = Literal["no answer line", "malformed answer line", "conflicting answer lines", "no answer found"]
MatchedForm = Literal["answer line", "boxed", "closing phrase", "conclusion line", "last number"]

_DECORATION = str.maketrans("", "", "*_`")
_MINUSES = str.maketrans({"\u2212": "-", "\u2013": "-"})
_ANSWER_LINE = re.compile(r"^[#>\s]*answer\s*:", re.IGNORECASE)
_STRICT = re.compile(r"^[#>\s]*answer\s*:\s*([-\u2212]?\d+)\.?\s*$", re.IGNORECASE)
_LENIENT_LINE = re.compile(r"\banswer\s*(?:is)?\s*[:=]\s*(.*)$", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])-?\s?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])|(?<![\w.])-?\d+(?:\.\d+)?")
_WHOLE_NUMBER = re.compile(r"-?\s?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?")
_BOXED = re.compile(r"\\boxed\s*\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")
_PHRASE = re.compile(
    r"(?:final\s+answer|the\s+answer|the\s+result|the\s+final\s+result)[*_`]*\s*(?:is|=|:)\s*[:\s$\\(*_`]*"
    r"(-?\s?\d[\d,]*(?:\.\d+)?)", re.IGNORECASE)
_CONCLUSION_LINE = re.compile(r"^[#>\s]*(?:conclusion|verdict)\s*:(.*)$", re.IGNORECASE)
_ITEM_NUMBER = re.compile(r"^([#>\s-]*)\d+[.)](?=[ \t]+\S)", re.MULTILINE)  # "3. Second stop", not a bare "51."


class Extraction(Value):
    """What extraction found in one reply: a number and the form it came in, or why there is none."""

    value: int | None
    failure: ExtractionFailure | None = None
    form: MatchedForm | None = None

    @property
    def is_answered(self) -> bool:
        """Whether the reply held an answer under the rule used."""
        return self.value is not None


def extract_answer(text: str, rule: ExtractionRule = "lenient", *, is_cut_off: bool = False,
                   is_numeric: bool = False) -> Extraction:
    """Read the final answer of a reply under `rule` (see the module docstring).

    `is_numeric` says the question asks for a number, so a reply that states no answer is read by
    its last number; `is_cut_off` says the reply stopped at its token limit, so it is not.
    """
    if rule == "strict":
        return _strict(text)
    return _lenient(text, is_fallback_allowed=is_numeric and not is_cut_off)


def _as_integer(token: str) -> int | None:
    """An integer from a number token ("1,234", "-7", "14.0"), or None for a real fraction."""
    cleaned = token.translate(_MINUSES).replace(",", "").replace(" ", "")
    if "." in cleaned:
        whole, _, fraction = cleaned.partition(".")
        if fraction.strip("0"):
            return None
        cleaned = whole
    try:
        return int(cleaned)
    except ValueError:
        return None


def _strict(text: str) -> Extraction:
    lines = [line.translate(_DECORATION) for line in text.splitlines()]
    answer_lines = [line for line in lines if _ANSWER_LINE.match(line)]
    if not answer_lines:
        return Extraction(value=None, failure="no answer line")
    values: set[int] = set()
    for line in answer_lines:
        match = _STRICT.match(line)
        if match is None:
            return Extraction(value=None, failure="malformed answer line")
        values.add(int(match.group(1).replace("\u2212", "-")))
    if len(values) > 1:
        return Extraction(value=None, failure="conflicting answer lines")
    return Extraction(value=values.pop(), form="answer line")


def _stated(flat: str) -> list[tuple[int, int, MatchedForm]]:
    """Every answer the reply states: (where in the reply, value, form)."""
    stated: list[tuple[int, int, MatchedForm]] = []
    offset = 0
    for raw in flat.splitlines(keepends=True):
        line = raw.translate(_DECORATION).replace("$", "")
        if match := _LENIENT_LINE.search(line):
            content = match.group(1).rsplit("=", 1)[-1]  # "Answer: 3+4 = 7" answers 7
            number = _NUMBER.search(content)
            if number is not None and (value := _as_integer(number.group(0))) is not None:
                stated.append((offset, value, "answer line"))
        elif match := _CONCLUSION_LINE.match(line):
            numbers = _NUMBER.findall(match.group(1))  # "after 10 weeks she has 99" states no one answer
            if len(numbers) == 1 and (value := _as_integer(numbers[0])) is not None:
                stated.append((offset, value, "conclusion line"))
        offset += len(raw)
    for match in _BOXED.finditer(flat):
        content = match.group(1).replace("\\,", "").replace("\\!", "").replace("$", "").rsplit("=", 1)[-1].strip()
        if _WHOLE_NUMBER.fullmatch(content) and (value := _as_integer(content)) is not None:
            stated.append((match.start(), value, "boxed"))  # \boxed{x + 5} is an expression, not an answer
    for match in _PHRASE.finditer(flat):
        if (value := _as_integer(match.group(1))) is not None:
            stated.append((match.start(), value, "closing phrase"))
    return stated


def _lenient(text: str, *, is_fallback_allowed: bool) -> Extraction:
    flat = text.translate(_MINUSES)
    if stated := _stated(flat):
        _, value, form = max(stated, key=lambda item: item[0])  # the last one stated wins
        return Extraction(value=value, form=form)
    if is_fallback_allowed:
        prose = _ITEM_NUMBER.sub(r"\1", flat.translate(_DECORATION).replace("$", ""))
        numbers = _NUMBER.findall(prose)
        if numbers and (last := _as_integer(numbers[-1])) is not None:
            return Extraction(value=last, form="last number")
    return Extraction(value=None, failure="no answer found")
