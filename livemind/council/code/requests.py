"""Whether a question asks for a Python function: what sends a council call that names no strategy to `code`.

    asks_for_function("Write a Python function roman_to_int(s) …")   True
    asks_for_function("def add(a, b):\\n    '''Add.'''")              True (a signature to complete)
    asks_for_function("Write a JavaScript function that …")          False (the sandbox runs Python)
    asks_for_function("What does this function do?")                False (an explanation, not code)

The rule is deliberately narrow: a `def name(` signature, or a verb that asks for code (write,
implement, create, complete, define, code, build, make, give me) followed within a few words by
"function", and no other programming language named without Python. Anything else keeps the
config's `[debate] strategy`. `[debate] function_strategy = ""` turns the rule off.
"""

from __future__ import annotations

import re

from livemind.council.code.consensus import CODE_ONLY, DEF

REQUEST = re.compile(
    r"\b(?:write|implement|create|complete|define|code|build|make|give\s+me|generate)\s+(?:me\s+)?"
    r"(?:a|an|the|this|that|one|some)?\s*(?:(?!about\b|of\b|on\b|for\b)[\w+#-]+\s+){0,4}?function\b",
    re.IGNORECASE)
OTHER_LANGUAGE = re.compile(
    r"\b(?:javascript|typescript|java|kotlin|swift|rust|golang|ruby|php|haskell|scala|perl|lua|julia|"
    r"elixir|clojure|sql|bash|powershell|c\+\+|c#)(?![\w+#])|\b(?:in|using)\s+(?:go|r|c)\b", re.IGNORECASE)
PYTHON = re.compile(r"\bpython\b", re.IGNORECASE)


def asks_for_function(question: str) -> bool:
    """Whether the question asks for a Python function (see the module docstring for the rule)."""
    if OTHER_LANGUAGE.search(question) and not PYTHON.search(question):
        return False
    return DEF.search(question) is not None or REQUEST.search(question) is not None


def runs_code(strategy: str | None, question: str) -> bool:
    """Whether a council call's replies are programs the sandbox chooses between: `code`, or `debate` on a function question.

    Such a call asks its experts for the code first (plugins/code.py `code_first`) and gives them CODE_MAX_TOKENS.
    """
    return strategy == "code" or (strategy == "debate" and asks_for_function(question))


def is_code_first(question: str) -> bool:
    """Whether the question already carries the code-first instruction (asked once, not twice)."""
    return CODE_ONLY.format(name="").split(":")[0] in question
