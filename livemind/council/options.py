"""The options of one council call: the only place an option's name, type, default, bound and help are written.

    CouncilOptions.of(rounds=2, ...)   built once at the edge (InvalidRequestError naming the field)
    options.resolved(config.debate)    every default filled in from the config: what the graph carries
    offered(surface)                   the fields a surface offers, with their pydantic FieldInfo

The adapters derive their shapes from the fields here: the HTTP request models (livemind.http.wire),
the MCP tool arguments (livemind.mcp.arguments) and the CLI flags (livemind.cli.flags). The graph
state carries the resolved options whole (`DebateInput.options`), and a session stores them as its
params. A new option is one field below; its `Offer` says which surfaces show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from livemind import limits
from livemind.config import DebateSettings
from livemind.council.code.consensus import CODE_MAX_TOKENS
from livemind.council.code.requests import asks_for_function, runs_code
from livemind.council.plugins import StrategyName, strategy_help, strategy_named
from livemind.errors import InvalidRequestError
from livemind.types import Transcript

CouncilMode = Literal["auto", "parallel", "turns"]
Surface = Literal["cli-consensus", "cli-debate", "mcp-consensus", "mcp-debate", "chat"]
ExpertTuple = Annotated[tuple[limits.ExpertName, ...], Field(min_length=1, max_length=limits.EXPERTS)]
EVERYWHERE: tuple[Surface, ...] = ("cli-consensus", "cli-debate", "mcp-consensus", "mcp-debate", "chat")


@dataclass(frozen=True)
class Offer:
    """Where an option is offered beyond the Python API, the graph and the /v1/livemind endpoints (always).

    `chat` is the `livemind` field of an OpenAI chat completion (OpenAI's own max_tokens, seed and
    temperature are top-level fields there). Every MCP argument costs each agent context tokens, so
    `agent_help` is terse and `agent_max` is the tighter AGENT_* cap where an agent waits on the call.
    """

    on: tuple[Surface, ...] = EVERYWHERE
    agent_help: str | None = None
    agent_max: int | None = None  # the largest number an agent may send
    agent_max_items: int | None = None  # the most items an agent may send


class CouncilOptions(BaseModel):
    """How one council (consensus or debate) runs. None: the call's default (mostly the config's `[debate]`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    experts: Annotated[ExpertTuple | None, Field(description="expert names (default: routed)"),
        Offer(agent_help="Names from list_experts. Default: routed.", agent_max_items=limits.AGENT_EXPERTS)] = None
    rounds: Annotated[limits.RoundCount | None, Field(
        description="maximum debate rounds after the first answers (default: the config's)"),
        Offer(on=("cli-debate", "mcp-debate", "chat"), agent_help="Revision rounds. Default: the config's.",
              agent_max=limits.AGENT_ROUNDS)] = None
    mode: Annotated[CouncilMode | None, Field(
        description="parallel: all experts at once; turns: one model in RAM at a time; auto picks "
                    "(default: auto for a debate, parallel for a consensus)"),
        Offer(agent_help="turns saves RAM.")] = None
    strategy: Annotated[StrategyName | None, Field(
        description=f"{strategy_help()} (default: debate for a debate, else the config's [debate] strategy, vote)"),
        Offer(agent_help="select: k samples each.")] = None
    selective: Annotated[bool | None, Field(
        description="debate only when the first answers disagree (default: the config's, on)"),
        Offer(on=("cli-debate", "mcp-debate", "chat"), agent_help="Debate only if first answers differ. Default true.")
    ] = None
    samples: Annotated[limits.SampleCount | None, Field(
        description="select: answers sampled per expert (default: the config's, 3)"),
        Offer(on=("cli-consensus", "cli-debate", "chat"))] = None
    transcript: Annotated[Transcript | None, Field(
        description="prompt layout: private (each expert's own conversation) or shared (one transcript of the "
                    "question and all answers so far, then each persona; default: the config's)"),
        Offer(on=("cli-consensus", "cli-debate", "mcp-debate", "chat"),
              agent_help="Prompt layout. Default: the config's.")] = None
    temperature: Annotated[limits.Temperature | None, Field(
        description="every expert answers at this temperature, 0 for greedy (default: each expert's own)"),
        Offer(on=("cli-consensus", "cli-debate"))] = None
    seed: Annotated[limits.SeedValue | None, Field(description="fixes sampling, for repeatable answers"),
                    Offer(on=("cli-consensus", "cli-debate", "mcp-consensus", "mcp-debate"),
                          agent_help="Repeatable answers.")] = None
    max_tokens: Annotated[limits.TokenCap | None, Field(description="generated tokens per answer (default: the "
                                                                    "expert's)"),
                          Offer(on=("cli-consensus", "cli-debate", "mcp-consensus", "mcp-debate"),
                                agent_help="Cap per answer. Default: the expert's.",
                                agent_max=limits.AGENT_TOKENS)] = None

    @classmethod
    def of(cls, **values: Any) -> CouncilOptions:
        """Options from keyword values (None: not given), refused with an InvalidRequestError that names the field."""
        try:
            return cls.model_validate({name: value for name, value in values.items() if value is not None})
        except ValidationError as exc:
            _check_values(values)  # the core's own messages and hints, where it has one
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "options"
            raise InvalidRequestError(f"{field}: {first['msg']}, got {first.get('input')!r}",
                                      hint=f"send {field} within its bounds (livemind.limits)") from exc

    def given(self) -> dict[str, Any]:
        """The options a caller set, as keyword values."""
        return {name: getattr(self, name) for name in self.model_fields_set}

    def with_values(self, **values: Any) -> CouncilOptions:
        """A copy with these options replaced (validated)."""
        return CouncilOptions.of(**{**self.given(), **values})

    def for_debate(self) -> CouncilOptions:
        """A debate's defaults: the debate strategy, auto mode (the router picks parallel or turns)."""
        return self.with_values(strategy=self.strategy or "debate", mode=self.mode or "auto")

    def for_consensus(self) -> CouncilOptions:
        """A consensus's defaults: no revision rounds (asking for some is refused), every expert at once unless turns."""
        if self.rounds:
            raise InvalidRequestError(f"a consensus runs no revision rounds, got rounds={self.rounds}",
                                      hint="call debate(..., rounds=N) for revision rounds")
        return self.with_values(rounds=0, mode="turns" if self.mode == "turns" else "parallel")

    def resolved(self, settings: DebateSettings, question: str = "") -> CouncilOptions:
        """Every default filled in: rounds and the rest from the config; asking for rounds asks for a debate.

        With no strategy named, a question that asks for a Python function takes the config's
        `function_strategy` (code), any other its `strategy` (vote). `code`, and `debate` on a function
        question, write whole functions: their replies get CODE_MAX_TOKENS unless max_tokens is given.
        """
        rounds = settings.max_rounds if self.rounds is None else self.rounds
        strategy = self.strategy or ("debate" if self.rounds else _default_strategy(settings, question))
        return self.with_values(
            rounds=rounds, strategy=strategy,
            selective=settings.selective if self.selective is None else self.selective,
            samples=settings.samples if self.samples is None else self.samples,
            transcript=self.transcript or settings.transcript,
            max_tokens=CODE_MAX_TOKENS if runs_code(strategy, question) and self.max_tokens is None else self.max_tokens)


def _default_strategy(settings: DebateSettings, question: str) -> str:
    """A council call's strategy when it names none: `function_strategy` for a function question, else `strategy`."""
    if settings.function_strategy and asks_for_function(question):
        return settings.function_strategy
    return settings.strategy


def _check_values(values: dict[str, Any]) -> None:
    """The core's checks of raw option values: limits' ranges, the registered strategies, the transcript layouts."""
    if isinstance(values.get("strategy"), str):
        strategy_named(values["strategy"])
    layouts = get_args(Transcript)
    if values.get("transcript") is not None and values["transcript"] not in layouts:
        raise InvalidRequestError(f"unknown transcript '{values['transcript']}'", hint=f"use one of: {', '.join(layouts)}")
    numbers: dict[str, Any] = {k: v for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    experts = values.get("experts")
    limits.check_generation(max_tokens=numbers.get("max_tokens"), seed=numbers.get("seed"),
                            temperature=numbers.get("temperature"))
    limits.check_council(experts=len(experts) if isinstance(experts, list | tuple) else None,
                         rounds=numbers.get("rounds"), samples=numbers.get("samples"))


def offer_of(field: FieldInfo) -> Offer:
    """The field's Offer (where it is shown), or the default: everywhere."""
    return next((m for m in field.metadata if isinstance(m, Offer)), Offer())


def offered(surface: Surface) -> dict[str, FieldInfo]:
    """The options a surface offers, in declaration order."""
    return {name: field for name, field in CouncilOptions.model_fields.items() if surface in offer_of(field).on}
