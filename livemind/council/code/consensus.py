"""CodeCouncil: each expert writes the function, the sandbox runs every candidate on the examples, one is chosen.

The experts are asked for the code first and nothing else (no explanation before it), so a token
limit rarely falls inside the code; a candidate it did cut is marked and never run. Examples come
from the task's own text (doctest lines, `f(x) == y`, …) and from the caller's tests
(`assert f(x) == y` lines). Candidates run concurrently in the sandbox, each in its own process.
When the function's name is known before any candidate is written (a signature, or `def name(` in
the task) and no probes are asked for, each candidate runs as soon as it is written, while the
engine still decodes the others (`checked_while_decoding` in the result counts them).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import TypeVar

from livemind.council.code.evidence import Evidence, gather_evidence
from livemind.council.code.examples import Example, docstring_examples
from livemind.council.code.probes import PROBES_MAX, merge_probes, probe_question, read_probes
from livemind.council.code.programs import Program, read_program
from livemind.council.code.results import CodeCandidateView, CodeGroupView, CodeResult, DistinguishingInput
from livemind.council.code.selection import RULE, Selection, select_by_execution
from livemind.council.code.syntax import parse_module
from livemind.errors import InvalidRequestError
from livemind.types import Answer

G = TypeVar("G")

Ask = Callable[[str, str, float, int | None, int], Answer]
"""(question, expert, temperature, seed, max_tokens) → the expert's answer."""

PROBE_MAX_TOKENS = 256  # a dozen short calls
CODE_MAX_TOKENS = 768  # HumanEval through the default council: see docs/humaneval.md for the cut-offs at this limit
SAMPLES_MAX = 16
LEAD_TEMPERATURE = 0.8  # the temperature the HumanEval pilot chose for the best expert's samples
DEF = re.compile(r"^\s*(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)
CODE_ONLY = ("Reply with only the code: one ```python block holding the whole function{name} (its signature, its body "
             "and any imports it needs), with no explanation and no tests.")


def find_entry_point(*texts: str | None) -> str | None:
    """The first function a signature or a task names with `def name(`."""
    for text in texts:
        if text and (match := DEF.search(text)):
            return match.group(1)
    return None


def code_question(task: str, signature: str | None = None, entry_point: str | None = None) -> str:
    """What each expert is asked: the task, the code-first instruction, and the signature (or stub) to complete.

    With a signature this is, word for word, the question `livemind eval --task humaneval` asks with
    task "Complete the following Python function." and the problem's prompt as the signature.
    """
    if signature:
        stub = signature if signature.endswith("\n") else f"{signature}\n"
        return f"{task.strip()} {CODE_ONLY.format(name='')}\n\n```python\n{stub}```"
    return f"{task.strip()}\n\n{CODE_ONLY.format(name=f' `{entry_point}`' if entry_point else '')}"


def completable_stub(signature: str | None) -> str:
    """The code a reply completes: the signature or stub as given when it parses, else with a `pass` body."""
    if not signature:
        return ""
    for candidate in (signature, f"{signature.rstrip()}\n    pass\n"):
        try:
            parse_module(candidate)
        except SyntaxError:
            continue
        return candidate
    return ""


def majority_name(texts: Sequence[str]) -> str | None:
    names = [n for t in texts if (n := find_entry_point(t))]
    if not names:
        return None
    counts = Counter(names)
    top = max(counts.values())
    return min(n for n, c in counts.items() if c == top)  # a tie goes to the name in sort order, not to list order


class CodeCouncil:
    """Code consensus over any way of asking an expert (the seam: `Ask`)."""

    def __init__(self, ask: Ask, *, timeout_s: float = 10.0, workers: int = 4) -> None:
        self._ask = ask
        self.timeout_s = timeout_s
        self.workers = workers

    def run(self, task: str, experts: Sequence[str], *, signature: str | None = None, tests: str | None = None,
            samples: int = 1, temperature: float = 0.0, seed: int | None = None, max_tokens: int = 768,
            probes: int = 0, lead_samples: int = 0, lead_temperature: float = LEAD_TEMPERATURE) -> CodeResult:
        """Ask every expert (samples each), run the candidates on the examples, choose by what they do.

        probes: how many test inputs each expert is also asked to write (0: none); what the candidates
        return on them joins their behaviour (`probes.py`).
        lead_samples: more candidates from the first expert (the lead), drawn at lead_temperature. Every
        persona greedy plus the best expert's 4 samples at 0.8 is the pool that did best on HumanEval
        (docs/humaneval.md): `experts=[best, *others], lead_samples=4`.
        """
        if not experts:
            raise InvalidRequestError("code consensus needs at least one expert", hint="name experts or let the router choose")
        if not 0 <= probes <= PROBES_MAX:
            raise InvalidRequestError(f"probes must be between 0 and {PROBES_MAX}, got {probes}",
                                      hint="probes is how many test inputs each expert writes")
        if not 1 <= samples <= SAMPLES_MAX:
            raise InvalidRequestError(f"samples must be between 1 and {SAMPLES_MAX}, got {samples}",
                                      hint="samples is how many candidates each expert writes")
        if not 0 <= lead_samples <= SAMPLES_MAX:
            raise InvalidRequestError(f"lead_samples must be between 0 and {SAMPLES_MAX}, got {lead_samples}",
                                      hint="lead_samples is how many more candidates the first expert writes")
        start = time.perf_counter()
        # a stub may define helpers first: the function to complete is the stub's last
        named = (DEF.findall(signature) or [None])[-1] if signature else find_entry_point(task)
        question = code_question(task, signature, named)
        jobs = [(e, i, temperature) for e in experts for i in range(samples)]
        jobs += [(experts[0], samples + i, lead_temperature) for i in range(lead_samples)]
        stated = f"{task}\n{signature or ''}\n{tests or ''}"
        early = docstring_examples(stated, named) if named and not probes else None  # run each as it is written
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="code-council") as asking, \
                ThreadPoolExecutor(max_workers=2, thread_name_prefix="code-sandbox") as running:
            pending = {asking.submit(self._ask, question, e, t, None if seed is None else seed + i, max_tokens): k
                       for k, (e, i, t) in enumerate(jobs)}
            written: dict[int, Answer] = {}
            checks: dict[int, Future[tuple[Program, Evidence]]] = {}
            for future in as_completed(pending):
                k = pending[future]
                written[k] = future.result()
                if early is not None and named:
                    checks[k] = running.submit(self._check, signature, named, written[k], early, ())
            beside = sum(1 for c in checks.values() if c.done())
            answers = [written[k] for k in range(len(jobs))]
            entry = named or majority_name([a.answer for a in answers])
            if entry is None:
                raise InvalidRequestError("no candidate defined a function, and the task names none",
                                          hint="pass a signature such as `def roman_to_int(s: str) -> int:`")
            examples = early if early is not None else docstring_examples(stated, entry)
            calls, probe_answers = self._probes(task, signature, entry, experts, probes, seed, examples) if probes else ((), [])
            if not checks:
                checks = {k: running.submit(self._check, signature, entry, a, examples, calls) for k, a in enumerate(answers)}
            checked = [checks[k].result() for k in range(len(jobs))]
        programs, evidence = [c[0] for c in checked], [c[1] for c in checked]
        selection = select_by_execution(evidence, [a.mean_logprob for a in answers])
        result = _result(entry, examples, [j[0] for j in jobs], [j[1] for j in jobs], answers, programs, evidence,
                         selection, time.perf_counter() - start, calls)
        # the probes' replies cost tokens too: the result's totals are everything the council generated and read
        return result.model_copy(update={"tokens": result.tokens + sum(a.tokens for a in probe_answers),
                                         "prompt_tokens": result.prompt_tokens + sum(a.prompt_tokens for a in probe_answers),
                                         "checked_while_decoding": beside})

    def _check(self, signature: str | None, entry: str, answer: Answer, examples: Sequence[Example],
               probes: Sequence[str]) -> tuple[Program, Evidence]:
        """Read one candidate's program and run it in the sandbox on the examples (and probes)."""
        program = read_program(completable_stub(signature), entry, answer.answer, is_cut_off=answer.finish_reason == "length")
        return program, gather_evidence(program, examples, timeout_s=self.timeout_s, probes=probes)

    def _probes(self, task: str, signature: str | None, entry: str, experts: Sequence[str], count: int,
                seed: int | None, examples: tuple[Example, ...]) -> tuple[tuple[str, ...], list[Answer]]:
        """Test inputs from every expert (greedy), merged so each contributes, the stated examples left out."""
        question = probe_question(task, entry, count, signature)
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="code-probes") as pool:
            replies = list(pool.map(lambda e: self._ask(question, e, 0.0, seed, PROBE_MAX_TOKENS), dict.fromkeys(experts)))
        return merge_probes([read_probes(r.answer, entry)[:count] for r in replies], [e.call for e in examples]), replies


def _result(entry: str, examples: tuple[Example, ...], experts: list[str], samples: list[int], answers: list[Answer],
            programs: list[Program], evidence: list[Evidence], selection: Selection, seconds: float,
            probes: tuple[str, ...] = ()) -> CodeResult:
    group_of = {m: g for g, group in enumerate(selection.groups) for m in group.members}
    groups = tuple(CodeGroupView(size=len(g.members), experts=tuple(experts[m] for m in g.members),
                                 examples_passed=g.examples_passed, outputs=g.behaviour) for g in selection.groups)
    candidates = tuple(CodeCandidateView(expert=experts[i], sample=samples[i], tokens=a.tokens,
                                         finish_reason=a.finish_reason, is_cut_off=programs[i].is_cut_off,
                                         failure=programs[i].failure, examples_passed=evidence[i].examples_passed,
                                         group=group_of.get(i))
                       for i, a in enumerate(answers))
    chosen = selection.chosen
    winner = group_of.get(chosen) if chosen is not None else None
    notes = []
    if not examples and not probes:
        notes.append("the task states no examples: candidates were grouped by identical code only; pass tests "
                     "(or ask for probes) to give the council something to run")
    elif not examples:
        notes.append("the task states no examples: candidates were grouped by what they return on the experts' "
                     "probes, and no candidate could be checked against an expected value")
    if chosen is None:
        notes.append("no candidate could run (cut off, no code or a syntax error)")
    return CodeResult(answer=evidence[chosen].code or "" if chosen is not None else "", entry_point=entry,
                      agreement=selection.agreement, chosen_expert=experts[chosen] if chosen is not None else None,
                      examples=examples, groups=winner_first(groups, winner), candidates=_regroup(candidates, winner),
                      probes=probes, dissent=distinguishing_input(selection, [e.call for e in examples] + list(probes),
                                                                  experts, winner), rule=RULE, note="; ".join(notes),
                      tokens=sum(a.tokens for a in answers), prompt_tokens=sum(a.prompt_tokens for a in answers),
                      total_s=round(seconds, 3))


def winner_first(groups: tuple[G, ...], winner: int | None) -> tuple[G, ...]:
    """The groups with the winner (an index into them) moved to the front."""
    if winner is None or winner == 0:
        return groups
    return (groups[winner], *groups[:winner], *groups[winner + 1:])


def _regroup(candidates: tuple[CodeCandidateView, ...], winner: int | None) -> tuple[CodeCandidateView, ...]:
    """Group indices renumbered to match `winner_first`."""
    if winner is None or winner == 0:
        return candidates

    def moved(g: int | None) -> int | None:
        if g is None:
            return None
        return 0 if g == winner else g + 1 if g < winner else g

    return tuple(c.model_copy(update={"group": moved(c.group)}) for c in candidates)


def distinguishing_input(selection: Selection, calls: list[str], experts: list[str],
             winner: int | None) -> DistinguishingInput | None:
    """The first example (then probe) on which the strongest other group returns something else."""
    if winner is None or len(selection.groups) < 2 or not calls:
        return None
    chosen = selection.groups[winner]
    for other in (g for i, g in enumerate(selection.groups) if i != winner):
        for call, mine, theirs in zip(calls, chosen.behaviour, other.behaviour, strict=False):
            if mine != theirs:
                return DistinguishingInput(call=call, chosen_output=mine, other_output=theirs,
                                           other_experts=tuple(experts[m] for m in other.members))
    return None
