"""Execution-based selection: examples first, then the largest group, ties never to list order."""

from __future__ import annotations

import itertools

from livemind.council.code.evidence import Evidence
from livemind.council.code.selection import select_by_execution


def ev(code: str | None, passed: tuple[bool, ...], behaviour: tuple[str, ...], *, cut: bool = False) -> Evidence:
    return Evidence(code=code, is_cut_off=cut, passed=passed, behaviour=behaviour)


def test_passing_more_examples_beats_a_larger_group() -> None:
    wrong = [ev(f"def f(): return {i} # wrong", (True, False), ("1", "2")) for i in range(3)]
    right = ev("def f(): return 'right'", (True, True), ("1", "3"))
    chosen = select_by_execution([*wrong, right])
    assert chosen.chosen == 3
    assert chosen.agreement == 0.25
    assert [len(g.members) for g in chosen.groups] == [1, 3]


def test_the_largest_group_wins_among_equal_example_scores() -> None:
    a = [ev("def f(): return 1", (True,), ("1",)), ev("def f():\n    return 1", (True,), ("1",))]
    b = [ev("def f(): return int('1')", (True,), ("1.0",))]
    selection = select_by_execution([b[0], *a])
    assert selection.chosen in (1, 2)
    assert selection.agreement == round(2 / 3, 4)


def test_a_tie_goes_to_the_shortest_code_whatever_the_order() -> None:
    long = ev("def f(x):\n    y = x\n    return y", (True,), ("5",))
    short = ev("def f(x): return x", (True,), ("6",))
    for order in itertools.permutations([long, short]):
        selection = select_by_execution(list(order))
        assert selection.chosen is not None
        assert order[selection.chosen].code == short.code


def test_cut_off_and_codeless_candidates_are_never_chosen() -> None:
    cut = ev("def f(): return 1", (True,), ("1",), cut=True)
    none = ev(None, (False,), ("no code",))
    assert select_by_execution([cut, none]).chosen is None
    ok = ev("def f(): return 2", (False,), ("2",))
    assert select_by_execution([cut, none, ok]).chosen == 2


def test_without_examples_identical_code_groups_together() -> None:
    a = ev("def f(): return 1", (), ())
    b = ev("def f(): return 2", (), ())
    selection = select_by_execution([a, b, b])
    assert selection.chosen in (1, 2) and selection.agreement == round(2 / 3, 4)


def test_a_tie_goes_to_the_group_the_engine_was_surest_of_whatever_the_order() -> None:
    long = ev("def f(x):\n    y = x\n    return y", (True,), ("5",))
    short = ev("def f(x): return x", (True,), ("6",))
    for order, confidences in (((long, short), (-0.1, -0.9)), ((short, long), (-0.9, -0.1))):
        selection = select_by_execution(list(order), list(confidences))
        assert selection.chosen is not None and order[selection.chosen].code == long.code


def test_a_missing_confidence_falls_back_to_the_shortest_code() -> None:
    long = ev("def f(x):\n    y = x\n    return y", (True,), ("5",))
    short = ev("def f(x): return x", (True,), ("6",))
    selection = select_by_execution([long, short], [-0.1, None])
    assert selection.chosen == 1


def test_confidence_never_outweighs_examples_or_group_size() -> None:
    wrong = [ev(f"def f(): return {i} # wrong", (True, False), ("1", "2")) for i in range(2)]
    right = ev("def f(): return 'right'", (True, True), ("1", "3"))
    assert select_by_execution([*wrong, right], [-0.01, -0.01, -5.0]).chosen == 2
