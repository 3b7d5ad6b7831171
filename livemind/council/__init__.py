"""The council: routing, prompts, strategies and agreement, the LangGraph debate graph, sessions and checkpoints."""
