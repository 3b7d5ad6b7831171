"""An app that embeds LiveMind: the Python API, then the compiled graph with its stream modes.

Run: .venv/bin/python graphs/embed_example.py "Is Rust faster than Go?"
"""

from __future__ import annotations

import sys

from livemind.council.graph import run_config
from livemind.environment import read_environment
from livemind.opening import open_mind


def main(question: str) -> None:
    """Ask with the Python API, then drive the compiled graph directly."""
    edge = read_environment()  # LIVEMIND_HOME, LIVEMIND_CONFIG, LIVEMIND_COUNCIL, LIVEMIND_RAM_BUDGET, as everywhere
    mind = open_mind(edge)
    try:
        # 1. The Python API: no LangGraph knowledge needed.
        result = mind.consensus(question, experts=["generalist", "coder"], max_tokens=64)
        print(f"consensus ({result.agreement:.2f} agreement): {result.answer}\n")

        # 2. The compiled graph, for LangGraph users: tokens via `messages`, events via `custom`.
        inputs = {"question": question, "session_id": "embed-demo", "options": {"mode": "parallel",
                  "experts": ["generalist", "coder"], "rounds": 1, "max_tokens": 48}}
        for mode, payload in mind.graph.stream(inputs, run_config("embed-demo"), context=mind.runtime,
                                               stream_mode=["messages", "custom"]):
            if mode == "messages":
                chunk, _meta = payload
                print(chunk.content, end="", flush=True)
            else:  # a typed event (livemind.events) written by a node
                print(f"\n[{payload.kind}]", payload.model_dump(exclude={"kind", "scores"}, exclude_none=True))
        final = mind.graph.get_state(run_config("embed-demo")).values["result"]
        print("\nfinal:", final["answer"])
    finally:
        mind.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "Is Rust faster than Go?")
