"""`ast.parse` behind one lock, for code that threads read at once.

CPython 3.11 builds the Python-level AST with a recursion counter kept per interpreter, not per
thread (gh-106905). When the garbage collector runs a finalizer in the middle of that build, the
interpreter may switch threads; a second `ast.parse` then moves the shared counter and the first
one raises `SystemError: AST constructor recursion depth mismatch`. Code consensus reads
candidates, examples and probes from several threads (one per candidate, while the engine still
decodes the others), and a HumanEval run died of exactly this after 386 method runs. Every parse
in LiveMind goes through this module, so no two of them overlap.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse_module(source: str) -> ast.Module:
    """ast.parse(source), one call at a time across threads."""
    with _LOCK:
        return ast.parse(source)


def parse_expression(source: str) -> ast.Expression:
    """ast.parse(source, mode="eval"), one call at a time across threads."""
    with _LOCK:
        return ast.parse(source, mode="eval")
