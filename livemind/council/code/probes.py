"""Test inputs the experts write: calls of the function with no expected value, to tell candidates apart.

A docstring states a few examples, often the easy ones. Candidates that pass all of them can still
differ on an empty list, a negative number or a tie. CodeT (Chen et al., 2022) has the model write
test cases and groups candidates by what they do on them. Here the experts write only *inputs*:
a small model's expected values are often wrong, and a wrong expected value would turn the
council against the right candidate. What a candidate returns on each input joins its
behaviour, so candidates that agree there fall in one group, and an input on which the two
strongest groups differ is reported as the dissent.

A call counts only when it parses as a call of the function whose arguments are Python
literals, so a probe cannot name anything outside the candidate's code; it still runs only in
the sandbox.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

from livemind.council.code.syntax import parse_expression, parse_module

PROBES_MAX = 12
PROBE_CHARS_MAX = 400
_BLOCK = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|\Z)", re.DOTALL)


def probe_question(task: str, entry_point: str, count: int, signature: str | None = None) -> str:
    """What each expert is asked: the task and `count` calls of the function, with no expected values."""
    stub = f"\n\n```python\n{signature.rstrip()}\n```" if signature else ""
    return (f"{task.strip()}{stub}\n\nDo not write the function. Write {count} different calls of `{entry_point}` "
            f"that would test it well: typical inputs and edge cases (empty, zero, negative, ties, the largest or "
            f"smallest allowed). Reply with only one ```python block, one call per line, such as "
            f"`{entry_point}(...)`, with literal arguments and no expected values, no asserts and no comments.")


def _is_literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return True


def _call_in(statement: ast.stmt) -> ast.expr | None:
    """The call a line states: `f(x)`, `assert f(x) == y`, `print(f(x))`, `y = f(x)`."""
    node: ast.expr | None = None
    if isinstance(statement, ast.Expr):
        node = statement.value
    elif isinstance(statement, ast.Assert):
        node = statement.test
    elif isinstance(statement, ast.Assign):
        node = statement.value
    if isinstance(node, ast.Compare):
        node = node.left
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print" and len(node.args) == 1:
        node = node.args[0]
    return node


def as_probe(line: str, entry_point: str) -> str | None:
    """The line as a canonical call of entry_point with literal arguments, or None."""
    text = line.strip().removeprefix(">>>").strip()
    if not text or len(text) > PROBE_CHARS_MAX:
        return None
    try:
        body = parse_module(text).body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    node = _call_in(body[0]) if len(body) == 1 else None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry_point):
        return None
    if not all(_is_literal(a) for a in node.args) or not all(k.arg and _is_literal(k.value) for k in node.keywords):
        return None
    return ast.unparse(node)


def read_probes(text: str, entry_point: str) -> tuple[str, ...]:
    """Every distinct call of entry_point in a reply, from its code blocks (or its lines when it has none)."""
    blocks = _BLOCK.findall(text)
    lines = [ln for block in blocks for ln in block.splitlines()] if blocks else text.splitlines()
    return tuple(dict.fromkeys(p for ln in lines if (p := as_probe(ln, entry_point))))


def merge_probes(replies: Iterable[tuple[str, ...]], stated: Iterable[str], limit: int = PROBES_MAX) -> tuple[str, ...]:
    """Probes from every expert, round-robin so each expert contributes, without the stated examples' calls."""
    known = {_canonical(c) for c in stated}
    queues = [list(r) for r in replies]
    merged: dict[str, None] = {}
    while any(queues) and len(merged) < limit:
        for queue in queues:
            if queue and len(merged) < limit:
                call = queue.pop(0)
                if call not in known:
                    merged[call] = None
    return tuple(merged)


def _canonical(call: str) -> str:
    try:
        return ast.unparse(parse_expression(call).body)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return call
