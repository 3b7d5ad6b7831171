"""Settings read from the environment, once, at the edge."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from livemind.config import DEFAULT_COUNCIL, DEFAULT_HOME, parse_size
from livemind.engine.scheduler import SCHEDULE_MODES, ScheduleMode
from livemind.errors import InvalidRequestError


@dataclass(frozen=True)
class EdgeSettings:
    """What the interfaces pass down: home folder, config file or shipped council, RAM budget and API key."""

    home: Path
    config_path: Path | None
    ram_budget_bytes: int | None
    api_key: str | None
    council: str = DEFAULT_COUNCIL
    scheduler: ScheduleMode = "latency"


def read_environment(*, config: str | None = None, ram_budget: str | None = None, home: str | None = None,
                     council: str | None = None, scheduler: str | None = None) -> EdgeSettings:
    """Flags win over LIVEMIND_* variables, which win over defaults."""
    env = os.environ
    home_text = home or env.get("LIVEMIND_HOME")
    config_text = config or env.get("LIVEMIND_CONFIG")
    budget_text = ram_budget or env.get("LIVEMIND_RAM_BUDGET")
    return EdgeSettings(
        home=Path(home_text).expanduser() if home_text else DEFAULT_HOME,
        config_path=Path(config_text).expanduser() if config_text else None,
        ram_budget_bytes=parse_size(budget_text) if budget_text else None,
        api_key=env.get("LIVEMIND_API_KEY") or None,
        council=council or env.get("LIVEMIND_COUNCIL") or DEFAULT_COUNCIL,
        scheduler=_schedule_mode(scheduler or env.get("LIVEMIND_SCHEDULER") or "latency"),
    )


def _schedule_mode(text: str) -> ScheduleMode:
    for mode in SCHEDULE_MODES:
        if text == mode:
            return mode
    raise InvalidRequestError(f"unknown scheduler '{text}'", hint=f"use one of: {', '.join(SCHEDULE_MODES)} "
                              "(--scheduler or LIVEMIND_SCHEDULER)")
