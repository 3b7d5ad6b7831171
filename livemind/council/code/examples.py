"""The examples a coding task's docstring states, read into (call, expected value) pairs.

HumanEval writes them several ways: doctest (`>>> f(x)` then the value on the next line),
`f(x) == v`, `f(x) ==> v`, `f(x) ➞ v`, `f(x) -> v`, `f(x) = v`, `f(x) should return v`,
`f(x)  # returns v`, `f(x) # => v`; a JavaScript-style `true`/`false` reads as Python's. Several
examples may share a line (`f(1) == 2; f(2) == 4`, `f(1) == 2, f(2) == 4`): a value that is not a
literal up to the end of the line is read up to the first `;`, `,` or sentence-ending `.` before
which it is one.
An example counts only when its call parses as Python and its value is a literal, so nothing
from the prompt is ever evaluated outside the sandbox.
"""

from __future__ import annotations

import ast
import re

from livemind.council.code.syntax import parse_expression
from livemind.types import Value

SEPARATORS = re.compile(r"^\s*#?\s*(?:==>|==|➞|->|=>|=|should\s+return|returns?|is)\s*", re.IGNORECASE)
JS_BOOLEANS = {"true": "True", "false": "False"}
LEAD = re.compile(r"^\s*(?:>>>\s*)?(?:for\s+example[:,]?\s*|example[:,]?\s*|e\.g\.?\s*)?", re.IGNORECASE)


class Example(Value):
    """One stated example: a call of the task's function and the value it should return."""

    call: str
    expected: str  # a Python literal, as written


def _balanced_call(text: str, start: int) -> int | None:
    """The index just past the parenthesis closing the call that opens at text[start:] (None if unbalanced)."""
    depth, quote = 0, ""
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _literal(text: str) -> str | None:
    """The text as a Python literal (trailing prose punctuation dropped), or None."""
    stripped = text.strip()
    stripped = JS_BOOLEANS.get(stripped.rstrip(".,;"), stripped)
    for candidate in (stripped.rstrip(".,;"), stripped):
        if not candidate:
            continue
        try:
            ast.literal_eval(candidate)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        return candidate
    return None


def _is_call(text: str, entry_point: str) -> bool:
    try:
        node = parse_expression(text).body
    except SyntaxError:
        return False
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry_point


def _leading_literal(text: str) -> str | None:
    """The whole text as a literal, else its shortest start, cut at a `;`, a `,` or a sentence's `.`, that is one."""
    if (whole := _literal(text)) is not None:
        return whole
    for cut in (i for i, ch in enumerate(text) if ch in ";," or (ch == "." and text[i + 1:i + 2].isspace())):
        if (start := _literal(text[:cut])) is not None:
            return start
    return None


def _calls(line: str, entry_point: str) -> list[tuple[int, int]]:
    """Where each call of `entry_point` on the line starts and ends (a name inside another, `x.f(`, is not one)."""
    spans: list[tuple[int, int]] = []
    at = line.find(f"{entry_point}(")
    while at >= 0:
        end = _balanced_call(line, at + len(entry_point))
        if not (at > 0 and (line[at - 1].isalnum() or line[at - 1] in "_.")) and end is not None \
                and _is_call(line[at:end], entry_point):
            spans.append((at, end))
        at = line.find(f"{entry_point}(", at + 1)
    return spans


def docstring_examples(prompt: str, entry_point: str) -> tuple[Example, ...]:
    """Every example stated in the prompt for `entry_point`, in order, without duplicates."""
    lines = prompt.splitlines()
    found: dict[str, Example] = {}
    for index, line in enumerate(lines):
        if line.lstrip().startswith(("def ", "class ")):
            continue
        for number, (at, end) in enumerate(_calls(line, entry_point)):
            call, rest = line[at:end], line[end:]
            expected: str | None = None
            if (sep := SEPARATORS.match(rest)) and rest.strip():
                expected = _leading_literal(rest[sep.end():])
            elif number == 0 and not rest.strip() and LEAD.match(line) and line.lstrip().startswith(">>>"):
                following = next((n.strip() for n in lines[index + 1:] if n.strip()), "")
                if following and not following.startswith(">>>"):
                    expected = _literal(following)
            if expected is not None and call not in found:
                found[call] = Example(call=call, expected=expected)
    return tuple(found.values())
