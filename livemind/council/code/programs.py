"""The program a reply holds: its code block, completed with the prompt, trimmed to definitions.

One reading rule for every method (single expert, samples, council positions, a synthesis):
- the fenced block that defines the task's function (else the first fenced block; else the whole
  reply, when it parses as Python);
- appended to the task's prompt, so the prompt's imports and helper functions stay defined
  and a reply that gives only the body still completes the function;
- only top-level imports, definitions, classes and assignments are kept: a reply's own demo
  (`print(...)`, `assert ...`, `if __name__ == "__main__":`) is not part of the candidate;
- a reply the token limit cut off inside its code is *cut off*: it is counted as failing and
  never run as if it were whole. A reply cut off after its code block closed keeps its code, and so
  does a reply that ended by itself without closing its block (the block runs to the reply's end).
"""

from __future__ import annotations

import ast
import re

from livemind.council.code.syntax import parse_module
from livemind.types import Value

FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


class Program(Value):
    """What one reply contributes as a candidate: runnable code, or why there is none."""

    code: str | None
    is_cut_off: bool
    failure: str | None = None  # "cut off" · "no code" · "syntax error: …"


def _blocks(text: str) -> list[tuple[str, bool]]:
    """Each fenced block's body and whether its closing fence is there."""
    found = []
    for match in FENCE.finditer(text):
        found.append((match.group(2), match.group(0).endswith("```")))
    return found


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None


def _keep_definitions(code: str) -> str:
    """Top-level imports, defs, classes and assignments only (a demo or test in the reply is dropped)."""
    tree = parse_module(code)
    kept = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign,
            ast.AnnAssign)
    tree.body = [node for node in tree.body if isinstance(node, kept)]
    return ast.unparse(tree)


def read_program(prompt: str, entry_point: str, reply: str, *, is_cut_off: bool) -> Program:
    """The candidate program a reply holds for a task (see the module docstring for the rule)."""
    blocks = _blocks(reply)
    if blocks:
        body, is_closed = next(((b, c) for b, c in blocks if _defines(b, entry_point)), blocks[0])
        if not is_closed and is_cut_off:
            return Program(code=None, is_cut_off=True, failure="cut off")
        is_cut_off = False  # the limit fell after the code, or the reply ended without closing its block
    elif is_cut_off:
        return Program(code=None, is_cut_off=True, failure="cut off")
    else:
        body = reply
    joined = f"{prompt.rstrip()}\n{body}" if not _defines(body, entry_point) else f"{prompt}\n\n{body}"
    try:
        code = _keep_definitions(joined)
    except SyntaxError as exc:
        if not blocks:
            return Program(code=None, is_cut_off=is_cut_off, failure="no code")
        return Program(code=None, is_cut_off=is_cut_off, failure=f"syntax error: {exc.msg} (line {exc.lineno})")
    if not _defines(code, entry_point):
        return Program(code=None, is_cut_off=is_cut_off, failure="no code")
    return Program(code=code, is_cut_off=is_cut_off)
