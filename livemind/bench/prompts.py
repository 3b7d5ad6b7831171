"""The fixed prompt set: the same questions, experts and seeds in every bench run."""

from __future__ import annotations

PROMPTS: tuple[str, ...] = (
    "Can humans be replaced by AI within 20 years?",
    "Explain how vaccines train the immune system.",
    "Is it ethical to use AI to make hiring decisions?",
    "What are the trade-offs of remote work for a small company?",
    "Why is the sky blue?",
)
"""Questions every persona can answer; the first ones are used in quick mode."""

PERSONAS: tuple[str, ...] = ("generalist", "ethicist", "coder")
"""Three experts that share one model (SmolLM2 in the shipped configuration)."""

SINGLE_EXPERT = "generalist"
SEED = 1234
ROUTING_QUESTIONS: tuple[str, ...] = (
    "What is the capital of Australia?",
    "Write a Python function that merges two sorted lists.",
    "What is the derivative of x cubed?",
    "Should self-driving cars prioritise passengers or pedestrians?",
    "Will robots take most factory jobs by 2040?",
    "How do I fix a KeyError in a Python dict?",
    "Summarise the causes of the French Revolution.",
    "What is the probability of three heads in a row?",
)
STORY_PROMPTS: tuple[str, ...] = tuple(f"Write a long story about a {thing}." for thing in ("dragon", "robot", "ship", "garden"))
"""Prompts with long answers, for decode throughput at several batch widths."""
LONG_PROMPT = " ".join([
    "The history of computing spans mechanical calculators, vacuum tubes, transistors, integrated circuits",
    "and the microprocessor. Each step made machines smaller, cheaper and faster, and each changed who could",
    "use them: first governments and universities, then companies, then households, then everyone with a phone.",
] * 4) + " Summarise this history in two sentences."
"""A prompt of about two hundred tokens, for prefill (batch and ubatch) measurements."""


def seed_for(prompt_index: int, expert: str) -> int:
    """A fixed seed per prompt and expert, the same for LiveMind and the peers."""
    return SEED + 100 * prompt_index + sum(map(ord, expert))
