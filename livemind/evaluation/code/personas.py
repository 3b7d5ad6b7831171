"""Every persona greedy on HumanEval, and the council measured on the pilot (issue 28: personas chosen by measurement).

The default council is the router's (coder and mathematician). The pilot already measures each of
the five personas alone, greedily, on its held-out problems. `personas-greedy` asks the personas
that no other method asks greedily (neither the best single expert nor a council member) for
their greedy answer to each scored problem, so every persona has one. Two councils are then read
from the same answers:

- every persona: code consensus (execution-selected) over the five greedy answers (Dipper's
  form: one model, several prompts, then a vote; here the vote is on behaviour);
- the measured council: the subset of two or more personas whose execution-selected pick passes
  the most *pilot* problems (ties: fewer personas, then more pilot passes alone, then
  configuration order). It is chosen on the pilot only, never on the scored problems.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from livemind.council.code.selection import select_by_execution
from livemind.evaluation.code.records import Candidate, CodePlan, MethodRun

MIN_COUNCIL = 2
PilotGreedy = Mapping[str, Mapping[str, Candidate]]
"""Pilot task id → persona → that persona's greedy candidate."""


def missing_personas(plan: CodePlan, names: Sequence[str]) -> list[str]:
    """The personas no other method asks greedily: neither the best single expert nor in the council."""
    return [n for n in names if n != plan.best_expert and n not in plan.council]


def persona_answers(runs: Mapping[str, MethodRun], plan: CodePlan) -> dict[str, Candidate]:
    """Each persona's greedy candidate for one scored problem, from single, council-greedy and personas-greedy."""
    found: dict[str, Candidate] = {}
    if "single" in runs and runs["single"].candidates:
        found[plan.best_expert] = runs["single"].candidates[0]
    for method in ("council-greedy", "personas-greedy"):
        if method in runs:
            for c in runs[method].candidates:
                if c.round == 0:
                    found.setdefault(c.expert, c)
    return found


def pick(answers: Mapping[str, Candidate], council: Sequence[str]) -> Candidate | None:
    """Code consensus over the council's greedy answers (in the council's order; the rule ignores order)."""
    cs = [answers[n] for n in council if n in answers]
    chosen = select_by_execution([c.evidence for c in cs], [c.mean_logprob for c in cs]).chosen
    return cs[chosen] if chosen is not None else None


def measured_council(pilot: PilotGreedy, names: Sequence[str]) -> tuple[tuple[str, ...], str]:
    """The subset of personas whose execution-selected pick passes the most pilot problems."""
    alone = {n: sum(p[n].is_passed for p in pilot.values() if n in p) for n in names}
    best: tuple[tuple[int, int, int], tuple[str, ...]] | None = None
    for size in range(MIN_COUNCIL, len(names) + 1):
        for subset in itertools.combinations(names, size):
            passed = sum(bool((c := pick(p, subset)) and c.is_passed) for p in pilot.values())
            key = (passed, -size, sum(alone[n] for n in subset))
            if best is None or key > best[0]:
                best = (key, subset)
    if best is None:
        return (), "fewer than two personas were measured on the pilot"
    (passed, _, _), subset = best
    return subset, (f"its execution-selected pick passes {passed} of {len(pilot)} pilot problems, the most of any "
                    f"subset of two or more personas (ties: fewer personas, then more pilot passes alone)")
