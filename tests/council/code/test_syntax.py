"""Parsing from several threads at once never raises CPython 3.11's spurious SystemError (gh-106905).

The race needs a thread switch in the middle of building the AST. A low GC threshold and finalizers
that yield make the collector run, and switch threads, inside nearly every parse; on CPython 3.11.7
plain `ast.parse` under this load raised `SystemError: AST constructor recursion depth mismatch`
in each of several tries, within a second.
"""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path

from livemind.council.code import syntax

SOURCE = (Path(syntax.__file__).parent / "consensus.py").read_text()


class _Yields:
    """Garbage whose finalizer lets another thread run."""

    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it

    def __del__(self) -> None:
        time.sleep(0)


def _stress(parse, threads: int = 6, rounds: int = 10) -> list[BaseException]:
    errors: list[BaseException] = []

    def work() -> None:
        for _ in range(rounds):
            _ = [_Yields() for _ in range(20)]
            try:
                parse(SOURCE)
            except SystemError as e:  # the bug's symptom; anything else fails the test loudly
                errors.append(e)

    old = gc.get_threshold()
    gc.set_threshold(5)
    try:
        workers = [threading.Thread(target=work) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        gc.set_threshold(*old)
        gc.collect()
    return errors


def test_parse_module_from_many_threads_never_raises_the_recursion_mismatch() -> None:
    assert _stress(syntax.parse_module) == []


def test_parse_expression_is_behind_the_same_lock() -> None:
    with syntax._LOCK:  # held: a parse from another thread must wait for it
        t = threading.Thread(target=lambda: syntax.parse_expression("f(1) == 2"))
        t.start()
        t.join(timeout=0.3)
        waited = t.is_alive()
    t.join()
    assert waited
