"""Strict answer extraction: an `Answer: <integer>` line or nothing.

The rules, in order:

1. An *answer line* is a line that starts with `Answer:` (any case). Markdown decoration
   around it (`**Answer:** 42`, `# Answer: 42`, `` `Answer: 42` ``) is formatting, not
   content, and is ignored.
2. No answer line → no answer. "The answer is 42" is the wrong format and counts as wrong.
3. Every answer line must hold exactly one integer (digits with an optional leading minus,
   a Unicode minus included, and an optional final period): "Answer: 42 apples",
   "Answer: 3+4=7", "Answer: 42.5" and "Answer: forty-two" are malformed.
4. Several answer lines must all agree; a model that hedges between two answers has not
   answered.
"""

from __future__ import annotations

import re
from typing import Literal

from livemind.types import Value

ANSWER_INSTRUCTION = "End your reply with a final line of the form `Answer: <number>`, using digits only."

ExtractionFailure = Literal["no answer line", "malformed answer line", "conflicting answer lines"]

_DECORATION = str.maketrans("", "", "*_`")
_ANSWER_LINE = re.compile(r"^[#>\s]*answer\s*:", re.IGNORECASE)
_STRICT = re.compile(r"^[#>\s]*answer\s*:\s*([-\u2212]?\d+)\.?\s*$", re.IGNORECASE)


class Extraction(Value):
    """What strict extraction found in one reply: an integer, or why there is none."""

    value: int | None
    failure: ExtractionFailure | None = None

    @property
    def is_answered(self) -> bool:
        """Whether the reply held a well-formed, unambiguous answer."""
        return self.value is not None


def extract_answer(text: str) -> Extraction:
    """Apply the strict rules above to a model's reply."""
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
    return Extraction(value=values.pop())
