"""What code consensus returns: the chosen code and the evidence behind it (one shape for API, CLI, HTTP, MCP)."""

from __future__ import annotations

from livemind.council.code.examples import Example
from livemind.types import Value


class CodeCandidateView(Value):
    """One expert's candidate as the result reports it."""

    expert: str
    sample: int
    tokens: int
    finish_reason: str
    is_cut_off: bool
    failure: str | None  # why it could not run: "cut off", "no code", "syntax error: …"
    examples_passed: int
    group: int | None  # index into CodeResult.groups; None when it could not run


class CodeGroupView(Value):
    """Candidates that behave alike on the examples."""

    size: int
    experts: tuple[str, ...]
    examples_passed: int
    outputs: tuple[str, ...]  # what the group's code returned on each example, then each probe (or how the run ended)


class DistinguishingInput(Value):
    """The remaining dissent: an input on which the runner-up group behaves differently from the chosen one."""

    call: str
    chosen_output: str
    other_output: str
    other_experts: tuple[str, ...]


class CodeResult(Value):
    """The chosen code, how much of the council backs it, and the evidence."""

    answer: str  # the chosen code ("" when no candidate could run)
    entry_point: str
    agreement: float  # the winning group's share of all candidates
    chosen_expert: str | None
    examples: tuple[Example, ...]  # the stated examples every candidate ran on
    probes: tuple[str, ...] = ()  # the calls the experts wrote, run on every candidate after the examples
    groups: tuple[CodeGroupView, ...]  # winner first
    candidates: tuple[CodeCandidateView, ...]
    dissent: DistinguishingInput | None
    rule: str
    note: str = ""  # what weakens the evidence (no examples, every candidate cut off, …)
    tokens: int
    prompt_tokens: int
    total_s: float
    # candidates whose sandbox run had finished when the last candidate was written (run beside decoding)
    checked_while_decoding: int = 0
