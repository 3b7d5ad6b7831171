"""Entry modules that expose the LiveMind graph to LangGraph tooling and example apps."""
