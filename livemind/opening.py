"""Opening a LiveMind from the edge's settings: the one place every interface (CLI, HTTP, MCP) does it.

    settings = read_environment(...)        flags over LIVEMIND_* variables over defaults (environment.py)
    config = settings_config(settings)      the experts TOML or the shipped council, checked (fails first)
    mind = open_mind(settings, config)      the LiveMind over it: home, RAM budget, scheduler
"""

from __future__ import annotations

from livemind.config import LiveMindConfig, load_config
from livemind.engine.catalog import ModelCatalog
from livemind.environment import EdgeSettings
from livemind.orchestrator import LiveMind


def settings_config(settings: EdgeSettings) -> LiveMindConfig:
    """The configuration the settings name: `--config FILE` / LIVEMIND_CONFIG, else the shipped council."""
    return load_config(settings.config_path, ModelCatalog(settings.home), council=settings.council)


def open_mind(settings: EdgeSettings, config: LiveMindConfig | None = None) -> LiveMind:
    """A LiveMind over the settings' council (or `config`, already read from them); the caller closes it."""
    return LiveMind(config or settings_config(settings), home=settings.home, ram_budget_bytes=settings.ram_budget_bytes,
                    schedule_mode=settings.scheduler)
