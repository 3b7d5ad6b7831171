"""What a council strategy is: the protocol every plug-in in livemind.council.plugins implements.

A strategy answers four questions for the graph, and nothing else in the graph asks which
strategy runs:

    samples_per_expert  how many answers each expert gives in the first round
    ends_after          whether the council stops after a round (a reason), or the debate rules decide ("")
    final_positions     which positions the final answer is drawn from
    pick                the final answer: a pick among the positions, or a synthesis

Adding one is a new module in `plugins/` and one line in `plugins/__init__.py` (the registry);
the CLI's, HTTP's and MCP's choices and the core's check read the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from livemind.council.embeddings import Vectors
from livemind.council.strategies import SPLIT, split_statement
from livemind.types import Consistency, Position


@dataclass
class Outcome:
    """The final answer as it is being decided: its text, who gave it, what it cost."""

    tokens: int
    prompt_tokens: int
    text: str = ""
    by: str = ""
    error: str | None = None
    consistency: tuple[Consistency, ...] = ()
    is_split: bool = False
    expert_accuracy: Mapping[str, float] = field(default_factory=dict)  # measured on a pilot: breaks select's ties
    question: str = ""  # what the experts were asked (`code` reads its examples and function from it)
    agreement: float | None = None  # a strategy's own measure (code: the winning group's share); None: the round's
    dissent: list[str] = field(default_factory=list)  # a strategy's own dissent, before the embeddings' notes

    def split(self, strategy: str, answers: Mapping[str, Sequence[int | None]]) -> None:
        """A split vote or select: the answer says so and names each expert's numbers."""
        self.text, self.by, self.is_split = split_statement(answers), f"{strategy}: {SPLIT}", True


@dataclass(frozen=True)
class RoundView:
    """What a strategy may read about a council after a round."""

    round: int
    samples: int
    active: tuple[str, ...]
    started: tuple[str, ...]


Synthesise = Callable[[Sequence[Position], Vectors, Outcome], None]
"""The synthesiser writing the final answer from positions (the graph's; a strategy may call it)."""


class CouncilStrategy(Protocol):
    """One way for a council to reach its answer."""

    @property
    def name(self) -> str:
        """The option value that names it (`--strategy NAME`, `"strategy": NAME`)."""
        ...

    @property
    def summary(self) -> str:
        """One line for help texts and tool descriptions."""
        ...

    def samples_per_expert(self, requested: int, round_index: int) -> int:
        """How many answers each expert gives in this round (`requested`: the caller's `samples`)."""
        ...

    def ends_after(self, view: RoundView) -> str:
        """Why the council stops after this round, or "" to let the debate rules decide."""
        ...

    def final_positions(self, positions: Sequence[Position], view: RoundView) -> list[Position]:
        """The positions the final answer is drawn from (empty when no active expert has one)."""
        ...

    def pick(self, final: Sequence[Position], vectors: Vectors, outcome: Outcome, synthesise: Synthesise) -> None:
        """Write the final answer into outcome (two or more final positions)."""
        ...


def latest(positions: Sequence[Position], names: Sequence[str], up_to_round: int) -> list[Position]:
    """Each named expert's latest position up to a round, in the order of names."""
    found: dict[str, Position] = {}
    for p in positions:
        if p.round <= up_to_round and p.expert in names and (
                p.expert not in found or p.round >= found[p.expert].round):
            found[p.expert] = p
    return [found[n] for n in names if n in found]
