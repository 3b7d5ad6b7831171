"""From the command line to the core: the flags every command accepts, the settings they give, an open LiveMind."""

from __future__ import annotations

import argparse

from livemind import opening
from livemind.config import SHIPPED_COUNCILS
from livemind.environment import EdgeSettings, read_environment
from livemind.orchestrator import LiveMind


def edge_settings(args: argparse.Namespace) -> EdgeSettings:
    """The home, config, council, RAM budget and scheduler the flags (or the environment) ask for."""
    return read_environment(config=args.config, ram_budget=args.ram_budget, home=args.home,
                            council=args.council, scheduler=getattr(args, "scheduler", None))


def open_mind(args: argparse.Namespace) -> LiveMind:
    """A LiveMind over the configured council; the caller closes it."""
    return opening.open_mind(edge_settings(args))


def add_edge_flags(parser: argparse.ArgumentParser, *, default: object) -> None:
    """--config, --council, --ram-budget and --home: accepted before the subcommand and after it."""
    parser.add_argument("--config", default=default,
                        help="expert configuration TOML (env LIVEMIND_CONFIG); replaces the shipped council")
    parser.add_argument("--council", default=default, choices=sorted(SHIPPED_COUNCILS),
                        help="a shipped council: default (capable, Qwen2.5-Coder-1.5B) or tiny (fast, small models); "
                             "env LIVEMIND_COUNCIL")
    parser.add_argument("--ram-budget", default=default,
                        help="absolute RAM budget for loaded models, e.g. 600MiB (env LIVEMIND_RAM_BUDGET)")
    parser.add_argument("--verbose", "-v", action="store_true", default=default,
                        help="log what the engine and the server do to stderr, llama.cpp's load log included")
    parser.add_argument("--home", default=default,
                        help="cache folder for models and sessions (env LIVEMIND_HOME, default ~/.cache/livemind)")
