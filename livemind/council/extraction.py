"""Reading a final answer out of a model's reply: one extractor for the eval, voting and agreement.

Two rules, chosen by name:

`lenient` (the default) reads the forms capable small models really write. The first three are
*stated* answers, and the one stated last in the reply wins, as a careful reader would take it
(Qwen2.5-Coder-0.5B may open with "Answer: 102", work it out, and close with `\\boxed{-254}`):

1. **Answer lines.** A line that holds `Answer:` or `Final answer:` (any case; markdown
   decoration such as `**Answer:** 42` is ignored), at its start or after a lead-in such as
   "Therefore, the result is Answer: 583". The last such line that
   holds a number gives the first number after its colon, or after its last `=` ("Answer: 42
   apples" is 42, "Answer: 3+4 = 7" is 7).
2. **`\\boxed{N}`**, LaTeX's way to mark a result (Qwen2.5 writes it even when asked for an
   answer line). A box must hold a number (or `x = N`); `\\boxed{x + 5}` is no answer.
3. **A closing phrase**: "the final answer is N", "the answer is N", "the result is N"
   (also with "=" or ":" and markdown or `$` around the number). The last one wins.
4. **A verdict line with one number.** The council's synthesiser fills in a template that opens
   with `Verdict:`; asked for an `Answer:` line as well, the 1.5B model often states the number
   only in its verdict ("Verdict: Tom has 55 marbles now."): the stored word-problem eval
   (docs/eval/word-answer-line) had 16 syntheses with no readable answer; this form reads 14 of
   them, all 14 right. The last `Verdict:` line that states numbers decides: exactly one number
   is the answer; none or several ("after 10 weeks she has 99") is no answer.
5. **Last resort: the final equation.** When the reply's last line (LaTeX fences such as `\\]`
   aside) ends in `= N` (a number, optionally followed by a period), N is the answer: a worked
   calculation that ends `... - 300 = 14` has answered 14. Only the last line counts, and not
   at all in a reply that was cut off at its token limit (its last line is a step of unfinished
   working). Nothing else is guessed: numbers in prose with none of these forms are no answer.

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
MatchedForm = Literal["answer line", "boxed", "closing phrase", "verdict line", "final equation"]

_DECORATION = str.maketrans("", "", "*_`")
_MINUSES = str.maketrans({"\u2212": "-", "\u2013": "-"})
_ANSWER_LINE = re.compile(r"^[#>\s]*answer\s*:", re.IGNORECASE)
_STRICT = re.compile(r"^[#>\s]*answer\s*:\s*([-\u2212]?\d+)\.?\s*$", re.IGNORECASE)
_LENIENT_LINE = re.compile(r"\banswer\s*(?:is)?\s*[:=]\s*(.*)$", re.IGNORECASE)
_VERDICT_LINE = re.compile(r"^[#>\s]*verdict\s*:(.*)$", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])-?\s?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])|(?<![\w.])-?\d+(?:\.\d+)?")
_WHOLE_NUMBER = re.compile(r"-?\s?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?")
_BOXED = re.compile(r"\\boxed\s*\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")
_PHRASE = re.compile(
    r"(?:final\s+answer|the\s+answer|the\s+result|the\s+final\s+result)[*_`]*\s*(?:is|=|:)\s*[:\s$\\(*_`]*"
    r"(-?\s?\d[\d,]*(?:\.\d+)?)", re.IGNORECASE)
_LATEX_FENCES = ("", "\\]", "\\[", "$$", "\\)", "\\(")
_EQUATION_END = re.compile(r"=\s*[$\\(\[]*\s*(-?\d[\d,]*(?:\.\d+)?)\s*[$\\)\]]*\s*\.?\s*$")


class Extraction(Value):
    """What extraction found in one reply: a number and the form it came in, or why there is none."""

    value: int | None
    failure: ExtractionFailure | None = None
    form: MatchedForm | None = None

    @property
    def is_answered(self) -> bool:
        """Whether the reply held an answer under the rule used."""
        return self.value is not None


def extract_answer(text: str, rule: ExtractionRule = "lenient", *, is_cut_off: bool = False) -> Extraction:
    """Read the final answer of a reply under `rule` (see the module docstring).

    `is_cut_off` says the reply stopped at its token limit: then the last-resort rule is not
    applied, since its last line is a step of unfinished working, not a result.
    """
    if rule == "strict":
        return _strict(text)
    return _lenient(text, is_cut_off=is_cut_off)


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


def _lenient(text: str, *, is_cut_off: bool) -> Extraction:
    flat = text.translate(_MINUSES)
    stated: list[tuple[int, int, MatchedForm]] = []  # (where in the reply, value, form): the last one stated wins
    offset = 0
    for raw in flat.splitlines(keepends=True):
        match = _LENIENT_LINE.search(raw.translate(_DECORATION).replace("$", ""))
        if match:
            content = match.group(1).rsplit("=", 1)[-1]  # "Answer: 3+4 = 7" answers 7
            number = _NUMBER.search(content)
            if number is not None and (value := _as_integer(number.group(0))) is not None:
                stated.append((offset, value, "answer line"))
        offset += len(raw)
    for match in _BOXED.finditer(flat):
        content = match.group(1).replace("\\,", "").replace("\\!", "").replace("$", "").rsplit("=", 1)[-1].strip()
        if _WHOLE_NUMBER.fullmatch(content) and (value := _as_integer(content)) is not None:
            stated.append((match.start(), value, "boxed"))  # \boxed{x + 5} is an expression, not an answer
    for match in _PHRASE.finditer(flat):
        if (value := _as_integer(match.group(1))) is not None:
            stated.append((match.start(), value, "closing phrase"))
    if stated:
        _, value, form = max(stated, key=lambda item: item[0])
        return Extraction(value=value, form=form)
    lines = [line.translate(_DECORATION).replace("$", "") for line in flat.splitlines()]
    verdicts = [match.group(1) for line in lines if (match := _VERDICT_LINE.match(line))]
    for verdict in reversed(verdicts):
        numbers = _NUMBER.findall(verdict)
        if len(numbers) == 1 and (value := _as_integer(numbers[0])) is not None:
            return Extraction(value=value, form="verdict line")
        if numbers:
            break  # the last verdict that states numbers decides, even when it states several
    meaningful = [line for line in lines if line.strip() not in _LATEX_FENCES]
    if not is_cut_off and meaningful and "=" in meaningful[-1]:
        match = _EQUATION_END.search(meaningful[-1].rstrip())
        if match and (value := _as_integer(match.group(1))) is not None:
            return Extraction(value=value, form="final equation")
    return Extraction(value=None, failure="no answer found")
