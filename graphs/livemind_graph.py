"""`langgraph.json` entry: the compiled LiveMind graph, without its own checkpointer.

`langgraph dev` (and LangGraph Platform) supply persistence themselves and reject a graph
compiled with one. Configuration comes from LIVEMIND_HOME / LIVEMIND_CONFIG /
LIVEMIND_RAM_BUDGET like every other interface.

Input: {"question": "...", "requested_mode": "auto|parallel|turns", "max_rounds": 2,
        "requested_experts": ["coder", "mathematician"], "seed": 7}
Output key `result`: a DebateResult (answer, agreement, positions, dissent, routing...).
"""

from livemind.config import load_config
from livemind.council.graph import build_graph
from livemind.engine.catalog import ModelCatalog
from livemind.environment import read_environment
from livemind.orchestrator import LiveMind

_settings = read_environment()
_mind = LiveMind(load_config(_settings.config_path, ModelCatalog(_settings.home), council=_settings.council), home=_settings.home,
                 ram_budget_bytes=_settings.ram_budget_bytes)
graph = build_graph(_mind.runtime)
