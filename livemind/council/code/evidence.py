"""What a candidate does on its task's stated examples and the experts' probes, found by running it in the sandbox.

This is all a selection rule may know about a candidate besides its text: how many stated
examples it passes and what it returns on each example and each probe (its *behaviour*). The official tests are run
elsewhere (`verdicts.py`) and never reach this module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from livemind.council.code.examples import Example
from livemind.council.code.programs import Program
from livemind.sandbox import run_python
from livemind.types import Value

MARK = "__LIVEMIND_EVIDENCE__"
REPR_LIMIT = 300

# Runs inside the sandbox after the candidate's definitions; prints one JSON line the parent reads.
HARNESS = '''

def __livemind_examples():
    import json as _json, math as _math
    out = []
    for _call, _expected in {cases!r}:
        try:
            _got = eval(_call)
        except BaseException as _exc:  # the candidate's own failure is its behaviour
            out.append([False, "raises " + type(_exc).__name__])
            continue
        try:
            _shown = repr(_got)[:{limit}]
        except BaseException:
            _shown = "<no repr>"
        if _expected is None:  # an expert's probe: what it returns is behaviour, not a pass or a fail
            out.append([None, _shown])
            continue
        _want = eval(_expected)
        try:
            _ok = bool(_got == _want)
            if not _ok and isinstance(_got, float) and isinstance(_want, (int, float)):
                _ok = _math.isclose(_got, _want, rel_tol=1e-6, abs_tol=1e-6)
        except BaseException:
            _ok = False
        out.append([_ok, _shown])
    print("\\n{mark}" + _json.dumps(out))

__livemind_examples()
'''


class Evidence(Value):
    """A candidate as selection sees it: its code, whether it was cut off, and its examples' results."""

    code: str | None
    is_cut_off: bool
    passed: tuple[bool, ...]  # one per stated example
    behaviour: tuple[str, ...]  # what it returned on each example, then each probe (or how the whole run ended)
    probes: int = 0  # how many of the behaviour's entries are the experts' probes

    @property
    def examples_passed(self) -> int:
        """How many stated examples the candidate passes."""
        return sum(self.passed)

    @property
    def is_runnable(self) -> bool:
        """Whether there is whole code to run (not cut off, code found)."""
        return self.code is not None and not self.is_cut_off


def _run_cases(code: str, cases: Sequence[tuple[str, str | None]], timeout_s: float) -> list[list[object]] | str:
    """Each case's [passed, shown] from one sandboxed run, or how the run ended when it printed none."""
    result = run_python(code, HARNESS.format(cases=list(cases), limit=REPR_LIMIT, mark=MARK), timeout_s=timeout_s)
    line = next((ln for ln in reversed(result.stdout.splitlines()) if ln.startswith(MARK)), None)
    if line is None:
        return f"run {result.status}"
    rows: list[list[object]] = json.loads(line[len(MARK):])
    return rows


def probe_behaviour(code: str, probes: Sequence[str], *, timeout_s: float) -> tuple[str, ...]:
    """What a program returns on each probe (sandboxed), or how its run ended, once per probe."""
    if not probes:
        return ()
    probed = _run_cases(code, [(call, None) for call in probes], timeout_s)
    return (probed,) * len(probes) if isinstance(probed, str) else tuple(str(shown) for _, shown in probed)


def gather_evidence(program: Program, examples: Sequence[Example], *, timeout_s: float,
                    probes: Sequence[str] = ()) -> Evidence:
    """Run a program on the stated examples, then on the experts' probes (sandboxed), and record what it did.

    The probes run apart, so a probe that hangs or crashes the process costs the candidate only the
    probes' behaviour, never its examples.
    """
    if program.code is None or program.is_cut_off:
        return Evidence(code=program.code, is_cut_off=program.is_cut_off, passed=(False,) * len(examples),
                        behaviour=(program.failure or "no code",))
    stated = _run_cases(program.code, [(e.call, e.expected) for e in examples], timeout_s)
    if isinstance(stated, str):
        return Evidence(code=program.code, is_cut_off=False, passed=(False,) * len(examples), behaviour=(stated,))
    behaviour = (*(str(shown) for _, shown in stated), *probe_behaviour(program.code, probes, timeout_s=timeout_s))
    return Evidence(code=program.code, is_cut_off=False, passed=tuple(bool(ok) for ok, _ in stated),
                    behaviour=behaviour, probes=len(probes))
