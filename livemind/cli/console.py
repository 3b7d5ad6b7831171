"""Where the CLI prints: live output on stdout, everything else on stderr, JSON when asked, a council's result."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from rich.console import Console

from livemind.cli.live_view import result_panel, routing_table
from livemind.orchestrator import LiveMind
from livemind.types import DebateResult

out = Console()
err = Console(stderr=True)


def configure_logging(*, verbose: bool) -> None:
    """`--verbose`: every LiveMind log line, llama.cpp's included, on stderr; otherwise warnings only.

    The engine's own log (model loading and the like) reaches the console only with `--verbose`.
    """
    if not verbose:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("livemind")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    root.propagate = False  # `serve` also configures the root logger: one line each, not two


def print_json(data: Any) -> None:
    """One JSON document on stdout, for scripts (`--json`)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def show_result(result: DebateResult, as_json: bool, mind: LiveMind) -> None:
    """The result panel (or its JSON) and where its transcript was written."""
    transcripts = mind.home / "transcripts"
    if as_json:
        data = result.model_dump(mode="json")
        data["transcript"] = {"markdown": str(transcripts / f"{result.session_id}.md"),
                              "json": str(transcripts / f"{result.session_id}.json")}
        print_json(data)
        return
    err.print(routing_table(result.routing))
    out.print(result_panel(result))
    err.print(f"[dim]transcript: {transcripts / (result.session_id + '.md')}[/]")
