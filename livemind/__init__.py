"""LiveMind: a local-first multi-expert consensus engine.

    question → Router → experts (ModelPool + RamGuard → Backend) → debate rounds → synthesis → answer

The public API is what `__all__` lists.
"""

from livemind.config import LiveMindConfig, load_config
from livemind.errors import LiveMindError
from livemind.graph import build_graph
from livemind.orchestrator import DebateEvent, LiveMind
from livemind.types import Answer, DebateResult, ExpertSpec, PoolStatus, Position, RouteDecision, RouteScore

__all__ = [
    "Answer",
    "DebateEvent",
    "DebateResult",
    "ExpertSpec",
    "LiveMind",
    "LiveMindConfig",
    "LiveMindError",
    "PoolStatus",
    "Position",
    "RouteDecision",
    "RouteScore",
    "build_graph",
    "load_config",
]

__version__ = "0.1.0"
