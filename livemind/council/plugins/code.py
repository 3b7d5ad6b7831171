"""`code`: the experts write the function code first; the sandbox runs each reply; what the code does decides.

The council's own round, read by livemind.council.code.pick: each reply's program runs on the
question's stated examples, and the group that passes the most of them, then the largest group
that behaves alike, wins (ties: the engine's confidence, then the shorter code, never list order).
Agreement is the winning group's share of the replies; the dissent names an input on which the
runner-up group returns something else. When no reply can run (no code, cut off, no function),
the vote's pick stands and the result says so.

The question reaches the experts with the code-first instruction (the route node adds it: `code_first`), and a
council call that names no strategy uses this one for a question that asks for a Python function
(`[debate] function_strategy`). `livemind code` / LiveMind.code adds what a round cannot: a
signature, the caller's tests, several samples per expert, probes and the full evidence.
"""

from __future__ import annotations

from collections.abc import Sequence

from livemind.council.code.consensus import code_question
from livemind.council.code.pick import Reply, pick_by_execution, stub_of
from livemind.council.code.requests import is_code_first
from livemind.council.embeddings import Vectors
from livemind.council.plugins.vote import VOTE
from livemind.council.strategy import Outcome, RoundView, Synthesise, latest
from livemind.types import Position


def code_first(question: str) -> str:
    """The question as the `code` strategy's experts read it: with the code-first instruction (added once)."""
    if is_code_first(question):
        return question
    return code_question(question, entry_point=stub_of(question)[1])


class Code:
    """The first answers' programs, chosen by what they do on the stated examples."""

    name = "code"
    summary = "each reply's code runs on the question's examples; what it does decides"

    def samples_per_expert(self, requested: int, round_index: int) -> int:
        """One reply per expert (`livemind code --samples` draws more)."""
        return 1

    def ends_after(self, view: RoundView) -> str:
        """The first round's programs decide."""
        return "code: the first answers' programs decide"

    def final_positions(self, positions: Sequence[Position], view: RoundView) -> list[Position]:
        """Each active expert's first answer."""
        return latest(positions, view.active, view.round)

    def pick(self, final: Sequence[Position], vectors: Vectors, outcome: Outcome, synthesise: Synthesise) -> None:
        """The execution-checked pick; the vote's when no reply can run."""
        cannot_run = execution_pick(final, outcome, "code")
        if cannot_run is not None:
            VOTE.pick(final, vectors, outcome, synthesise)
            outcome.by = f"code: {cannot_run}; {outcome.by}"


def execution_pick(final: Sequence[Position], outcome: Outcome, strategy: str) -> str | None:
    """Write the execution-checked pick into outcome (None), or say why no reply could run (outcome untouched).

    `code` reads the first answers with it; `debate` reads the revised answers to a function question.
    """
    found = pick_by_execution(outcome.question, [Reply(expert=p.expert, text=p.text, finish_reason=p.finish_reason,
                                                       mean_logprob=p.mean_logprob) for p in final])
    if found.chosen is None:
        return found.note
    chosen = final[found.chosen]
    top = found.groups[0]
    outcome.text = chosen.text
    outcome.by = (f"{strategy}: {chosen.expert} (a group of {len(top.members)} of {len(final)}, passes "
                  f"{top.examples_passed} of {found.examples} stated examples)")
    outcome.agreement = found.agreement
    outcome.dissent = [d for d in (found.dissent, found.note) if d]
    outcome.dissent += [f"{p.expert}: {why}" for p, why in zip(final, found.failures, strict=True) if why]
    return None


CODE = Code()
