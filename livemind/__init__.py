"""LiveMind: a local-first multi-expert consensus engine.

    question → Router → experts (ModelPool + RamGuard → Backend) → debate rounds → synthesis → answer

The public API is what `__all__` lists.
"""

from livemind.config import SHIPPED_COUNCILS, LiveMindConfig, load_config
from livemind.council.code import CodeResult
from livemind.council.extraction import Extraction, extract_answer
from livemind.council.options import CouncilOptions
from livemind.errors import (
    BusyError,
    ConfigError,
    EngineError,
    GenerationCancelled,
    InvalidRequestError,
    LiveMindError,
    MissingExtraError,
    ModelCorruptError,
    ModelError,
    ModelNotFoundError,
    PromptTooLongError,
    RamBudgetExceeded,
    RemoteExpertError,
    RequestError,
    SandboxError,
    SessionError,
    UnknownExpertError,
)
from livemind.events import (
    DebateEvent,
    ExpertDropped,
    ExpertFinished,
    ExpertStarted,
    ResultEvent,
    RoundDone,
    RouteEvent,
    SynthesisDone,
    SynthesisStarted,
    SynthesisToken,
    TokenEvent,
    result_of,
)
from livemind.orchestrator import LiveMind
from livemind.types import (
    Answer,
    Consistency,
    DebateResult,
    ExpertSpec,
    PoolStatus,
    Position,
    RouteDecision,
    RouteScore,
    Strategy,
)
from livemind.version import __version__ as __version__

__all__ = [
    "SHIPPED_COUNCILS",
    "Answer",
    "BusyError",
    "CodeResult",
    "ConfigError",
    "Consistency",
    "CouncilOptions",
    "DebateEvent",
    "DebateResult",
    "EngineError",
    "ExpertDropped",
    "ExpertFinished",
    "ExpertSpec",
    "ExpertStarted",
    "Extraction",
    "GenerationCancelled",
    "InvalidRequestError",
    "LiveMind",
    "LiveMindConfig",
    "LiveMindError",
    "MissingExtraError",
    "ModelCorruptError",
    "ModelError",
    "ModelNotFoundError",
    "PoolStatus",
    "Position",
    "PromptTooLongError",
    "RamBudgetExceeded",
    "RemoteExpertError",
    "RequestError",
    "ResultEvent",
    "RoundDone",
    "RouteDecision",
    "RouteEvent",
    "RouteScore",
    "SandboxError",
    "SessionError",
    "Strategy",
    "SynthesisDone",
    "SynthesisStarted",
    "SynthesisToken",
    "TokenEvent",
    "UnknownExpertError",
    "build_graph",
    "extract_answer",
    "load_config",
    "result_of",
]



def __getattr__(name: str) -> object:
    """`build_graph` loads LangGraph (about a second): only for callers that want the graph itself."""
    if name == "build_graph":
        from livemind.council.graph import build_graph

        return build_graph
    raise AttributeError(f"module 'livemind' has no attribute {name!r}")
