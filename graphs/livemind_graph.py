"""`langgraph.json` entry: `make_graph`, a factory that returns the LiveMind graph without a checkpointer.

`langgraph dev` (and LangGraph Platform) supply persistence themselves and reject a graph
compiled with one. Importing this module is cheap: the one LiveMind of the process (models,
pool, SQLite session files) opens on the first run, from LIVEMIND_HOME / LIVEMIND_CONFIG /
LIVEMIND_COUNCIL / LIVEMIND_RAM_BUDGET / LIVEMIND_SCHEDULER like every other interface.

Input: {"question": "...", "options": {"mode": "auto|parallel|turns", "rounds": 2,
        "experts": ["coder", "mathematician"], "seed": 7}}   (livemind.council.options.CouncilOptions)
Output key `result`: a DebateResult (answer, agreement, positions, dissent, routing...).
"""

from __future__ import annotations

from langgraph.graph.state import CompiledStateGraph

from livemind.council import graph as council_graph
from livemind.council.state import GraphRuntime
from livemind.environment import read_environment
from livemind.opening import open_mind
from livemind.orchestrator import LiveMind

_minds: list[LiveMind] = []  # the process-wide LiveMind, kept alive for the process's lifetime


def make_graph() -> CompiledStateGraph:
    """The compiled graph (the server calls this per request; compiled once, LiveMind opened on the first run)."""
    return council_graph.make_graph(_open_from_environment)


def _open_from_environment() -> GraphRuntime:
    settings = read_environment()
    mind = open_mind(settings)
    _minds.append(mind)
    return mind.runtime
