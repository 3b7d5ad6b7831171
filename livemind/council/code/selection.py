"""Choosing one candidate by execution: the stated examples first, then the largest group that behaves alike.

The rule (CodeT and MBR-exec, reduced to what a docstring gives):
1. Candidates cut off or without runnable code get no support.
2. Runnable candidates that return the same values on every stated example and every probe the
   experts wrote form one group (with neither, identical normalised code forms a group).
3. The winning group passes the most stated examples; among those, it has the most candidates.
4. A tie between groups goes to the group the engine was surest of: the largest sum of its
   candidates' confidences, exp(mean token log-prob) (CISC's weighting), when every candidate has
   one; then, and inside the winning group, to the most confident candidate, then the shortest
   code, then the code's text in sort order: never to the order candidates were listed in.

Only `Evidence` reaches this module: the official tests cannot influence the choice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from livemind.council.code.evidence import Evidence
from livemind.types import Value

RULE = ("most stated examples passed, then the largest group of candidates that behave alike on them; "
        "ties go to the group the engine was surest of (summed exp(mean token log-prob), when every candidate "
        "has one), then to the shortest code (then its text in sort order), never to list order")


class Group(Value):
    """Candidates that behave alike on the stated examples and the probes."""

    members: tuple[int, ...]
    examples_passed: int
    behaviour: tuple[str, ...]


class Selection(Value):
    """The chosen candidate (None when none could run), the groups behind it and the winner's share."""

    chosen: int | None
    groups: tuple[Group, ...]
    agreement: float
    rule: str = RULE


def _confidence(value: float | None) -> float:
    return math.exp(value) if value is not None and math.isfinite(value) else 0.0


def select_by_execution(candidates: Sequence[Evidence], confidences: Sequence[float | None] | None = None) -> Selection:
    """The candidate the rule above picks, with every group for the report.

    confidences: each candidate's mean token log-prob; ties use them only when every candidate has one.
    """
    weights = [_confidence(c) for c in confidences] if confidences is not None and len(confidences) == len(candidates) \
        and all(c is not None and math.isfinite(c) for c in confidences) else [0.0] * len(candidates)
    keyed: dict[tuple[str, ...], list[int]] = {}
    for index, evidence in enumerate(candidates):
        if not evidence.is_runnable:
            continue
        key = evidence.behaviour if evidence.passed or evidence.probes else (evidence.code or "",)
        keyed.setdefault(key, []).append(index)
    groups = [Group(members=tuple(m), examples_passed=candidates[m[0]].examples_passed,
                    behaviour=candidates[m[0]].behaviour) for m in keyed.values()]
    if not groups:
        return Selection(chosen=None, groups=(), agreement=0.0)

    def candidate_key(i: int) -> tuple[float, int, str]:
        code = candidates[i].code or ""
        return -weights[i], len(code), code

    def representative(group: Group) -> int:
        return min(group.members, key=candidate_key)

    def group_key(group: Group) -> tuple[float, tuple[float, int, str]]:
        return -math.fsum(weights[i] for i in group.members), candidate_key(representative(group))

    top = max((g.examples_passed, len(g.members)) for g in groups)
    tied = [g for g in groups if (g.examples_passed, len(g.members)) == top]
    winner = min(tied, key=group_key)
    ordered = sorted(groups, key=lambda g: (-g.examples_passed, -len(g.members)))
    return Selection(chosen=representative(winner), groups=tuple(ordered),
                     agreement=round(len(winner.members) / len(candidates), 4))
