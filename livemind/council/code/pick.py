"""The `code` strategy's pick: run the council's replies in the sandbox and choose by what they do.

A council asked for a function code first (code_question) has one reply per expert. Each reply's
program (programs.py) runs on the question's stated examples (examples.py); selection.py chooses.
Unlike CodeCouncil, nothing is generated here: the pick reads the replies the graph already has, so
it costs a vote's tokens plus the sandbox's runs. It is the rule `livemind eval --task humaneval`
scores as "council, execution-selected" (docs/humaneval.md).

A reply the token limit cut inside its code is marked cut off and never run. When no reply can
run, `chosen` is None and `note` says why; the caller falls back to another pick.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from livemind.council.code.consensus import (
    DEF,
    completable_stub,
    distinguishing_input,
    find_entry_point,
    majority_name,
    winner_first,
)
from livemind.council.code.evidence import gather_evidence
from livemind.council.code.examples import docstring_examples
from livemind.council.code.programs import FENCE, read_program
from livemind.council.code.selection import Group, select_by_execution
from livemind.types import FinishReason, Value


class Reply(Value):
    """One expert's reply as the pick reads it."""

    expert: str
    text: str
    finish_reason: FinishReason | None = None
    mean_logprob: float | None = None


class ExecutionPick(Value):
    """Which reply the sandbox's evidence chose (None: none could run), and the evidence in brief."""

    chosen: int | None
    agreement: float  # the winning group's share of all replies
    entry_point: str | None
    examples: int  # stated examples every reply ran on
    groups: tuple[Group, ...]  # winner first
    failures: tuple[str, ...]  # per reply: why it could not run ("" when it ran)
    dissent: str = ""  # an input on which the runner-up group returns something else
    note: str = ""  # what weakens the evidence


def stub_of(question: str) -> tuple[str, str | None]:
    """The code the replies complete (the question's last Python block that defines a function) and its function."""
    blocks = [body for _, body in FENCE.findall(question) if DEF.search(body)]
    if blocks:
        return completable_stub(blocks[-1]), DEF.findall(blocks[-1])[-1]  # helpers first, the function to write last
    return "", find_entry_point(question)


def pick_by_execution(question: str, replies: Sequence[Reply], *, timeout_s: float = 10.0) -> ExecutionPick:
    """Run each reply's program on the question's examples and pick by selection.py's rule."""
    stub, entry = stub_of(question)
    entry = entry or majority_name([r.text for r in replies])
    if entry is None:
        return ExecutionPick(chosen=None, agreement=0.0, entry_point=None, examples=0, groups=(),
                             failures=("no function",) * len(replies), note="no reply defined a function")
    examples = docstring_examples(question, entry)
    programs = [read_program(stub, entry, r.text, is_cut_off=r.finish_reason == "length") for r in replies]
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="code-pick") as pool:
        evidence = list(pool.map(lambda p: gather_evidence(p, examples, timeout_s=timeout_s), programs))
    selection = select_by_execution(evidence, [r.mean_logprob for r in replies])
    winner = next((g for g, group in enumerate(selection.groups) if selection.chosen in group.members), None)
    dissent = distinguishing_input(selection, [e.call for e in examples], [r.expert for r in replies], winner)
    notes = []
    if not examples:
        notes.append("the question states no examples: replies were grouped by identical code only")
    if selection.chosen is None:
        notes.append("no reply could run (cut off, no code or a syntax error)")
    return ExecutionPick(
        chosen=selection.chosen, agreement=selection.agreement, entry_point=entry, examples=len(examples),
        groups=winner_first(selection.groups, winner), failures=tuple(p.failure or "" for p in programs), note="; ".join(notes),
        dissent="" if dissent is None else (f"on {dissent.call} the chosen code returns {dissent.chosen_output}; "
                                            f"{', '.join(sorted(set(dissent.other_experts)))}'s returns {dissent.other_output}"))
