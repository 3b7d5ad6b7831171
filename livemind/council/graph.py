"""The LiveMind state machine. The only module that assembles the LangGraph graph.

    START → route ─┬─ Send(expert) × N ──┐            (parallel: independent answers)
                   └─ turn ⟲ ────────────┤            (turn-based: one model at a time)
                                         ▼
                                      collect ── agreement, stop rules ──┬─→ synthesize → END
                                         ▲                               │
                                         └──── next round (Send / turn) ─┘

Rounds are bounded by `collect` itself (max_rounds), never by LangGraph's recursion limit.

The nodes (`nodes.py`) read their dependencies from the run's context, a `GraphRuntime`
(`state.py`): `graph.stream(inputs, run_config(session_id), context=mind.runtime, ...)`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from livemind.council.nodes import after_collect, after_turn, collect, dispatch, expert, route, synthesize, turn
from livemind.council.state import DebateInput, DebateOutput, DebateState, GraphRuntime, provide_process_runtime

__all__ = ["DebateInput", "DebateOutput", "DebateState", "GraphRuntime", "build_graph", "make_graph", "run_config"]


def build_graph(*, checkpointer: Any = None) -> CompiledStateGraph[DebateState, GraphRuntime, DebateInput, DebateOutput]:
    """The compiled LiveMind graph; every run passes its GraphRuntime as `context=`."""
    return _builder(GraphRuntime).compile(checkpointer=checkpointer)


def make_graph(open_runtime: Callable[[], GraphRuntime]) -> CompiledStateGraph:
    """The graph a LangGraph server serves (`langgraph.json`): no checkpointer, the server brings its own.

    No server caller can send a GraphRuntime, so the graph declares no context schema (the
    server's plain-dict context passes through untouched) and its runs share one process-wide
    runtime, made by `open_runtime` on the first run, not before.
    """
    provide_process_runtime(open_runtime)
    return _served_graph()


@functools.cache
def _served_graph() -> CompiledStateGraph:
    return _builder(None).compile()


def _builder(context_schema: type[GraphRuntime] | None) -> StateGraph[DebateState, Any, DebateInput, DebateOutput]:
    builder = StateGraph(DebateState, context_schema=context_schema, input_schema=DebateInput,
                         output_schema=DebateOutput)
    builder.add_node("route", route)
    builder.add_node("expert", expert)
    builder.add_node("turn", turn)
    builder.add_node("collect", collect)
    builder.add_node("synthesize", synthesize)
    builder.add_edge(START, "route")
    builder.add_conditional_edges("route", dispatch, ["expert", "turn"])
    builder.add_edge("expert", "collect")
    builder.add_conditional_edges("turn", after_turn, ["turn", "collect"])
    builder.add_conditional_edges("collect", after_collect, ["expert", "turn", "synthesize"])
    builder.add_edge("synthesize", END)
    return builder


def run_config(session_id: str) -> RunnableConfig:
    """The LangGraph run config of one session."""
    return {"configurable": {"thread_id": session_id}, "recursion_limit": 200}
