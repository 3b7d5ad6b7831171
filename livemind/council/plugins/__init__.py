"""The strategy registry: every council strategy, by name. Add one: a module here, and a line below.

    strategy_named("vote")   the plug-in (InvalidRequestError naming the choices for an unknown name)
    STRATEGY_NAMES           the option's choices, in order: what the CLI, HTTP and MCP offer
    StrategyName             the option's type for HTTP and MCP models: checked and documented from the registry
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

from livemind.council.plugins.code import CODE
from livemind.council.plugins.debate import DEBATE
from livemind.council.plugins.select import SELECT
from livemind.council.plugins.vote import VOTE
from livemind.council.strategy import CouncilStrategy
from livemind.errors import ConfigError, InvalidRequestError

REGISTRY: dict[str, CouncilStrategy] = {s.name: s for s in (DEBATE, VOTE, SELECT, CODE)}
STRATEGY_NAMES: tuple[str, ...] = tuple(REGISTRY)


def strategy_named(name: str) -> CouncilStrategy:
    """The registered strategy of this name."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise InvalidRequestError(f"unknown strategy '{name}'",
                                  hint=f"use one of: {', '.join(STRATEGY_NAMES)}") from None


def check_config_strategy(name: str, field: str = "debate.strategy") -> None:
    """The config's `[debate] strategy` (or another field) names a registered strategy (a ConfigError naming the choices)."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown strategy '{name}'", field=field,
                          hint=f"use one of: {', '.join(STRATEGY_NAMES)}")


def _registered(name: str) -> str:
    if name not in REGISTRY:
        raise ValueError(f"unknown strategy '{name}'; use one of: {', '.join(STRATEGY_NAMES)}")
    return name


StrategyName = Annotated[str, AfterValidator(_registered), WithJsonSchema({"type": "string", "enum": list(STRATEGY_NAMES)})]
"""A strategy option in a wire model or tool signature: validated against, and documented from, the registry."""


def strategy_help() -> str:
    """`name: summary` for each strategy, for help texts."""
    return "; ".join(f"{s.name}: {s.summary}" for s in REGISTRY.values())
