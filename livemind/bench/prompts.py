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
FACT_QUESTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("What is the capital of France?", ("Paris",)),
    ("What is the capital of Japan?", ("Tokyo",)),
    ("How many days are there in a week?", ("seven", "7")),
    ("What colour is the sky on a clear day?", ("blue",)),
    ("Which planet do we live on?", ("Earth",)),
    ("What is the largest ocean on Earth?", ("Pacific",)),
    ("What gas do plants absorb from the air?", ("carbon dioxide", "CO2")),
    ("How many legs does a spider have?", ("eight", "8")),
    ("What is the boiling point of water in degrees Celsius?", ("100",)),
    ("Who wrote Romeo and Juliet?", ("Shakespeare",)),
)
"""Questions with one right fact each (any listed word counts), for model quality before and after requantizing."""
PERPLEXITY_TEXT = (
    "The river starts high in the mountains, where snow melts each spring and runs down through narrow valleys. "
    "As it moves toward the plains, smaller streams join it, and the water grows wide and slow. Farmers along its "
    "banks have used the river for thousands of years to water their fields, and towns grew up where it was easy "
    "to cross. In the nineteenth century, engineers built dams and canals to control floods and to carry goods on "
    "boats. Today the river supplies drinking water to millions of people, and its wetlands are home to birds, fish "
    "and insects that live nowhere else. Scientists measure the flow every day, because a dry summer upstream can "
    "mean empty reservoirs months later. Keeping the river healthy means balancing the needs of cities, farms and "
    "wildlife, and that balance is argued over in every generation. Some people want more water for crops, others "
    "want cleaner water for fish, and many simply want the river to look the way it did when they were children. "
    "Whatever is decided, the snow will keep melting each spring, and the water will keep finding its way to the sea."
)
"""A fixed English passage (written for LiveMind) on which each copy of a model is scored by perplexity."""
LONG_PROMPT = " ".join([
    "The history of computing spans mechanical calculators, vacuum tubes, transistors, integrated circuits",
    "and the microprocessor. Each step made machines smaller, cheaper and faster, and each changed who could",
    "use them: first governments and universities, then companies, then households, then everyone with a phone.",
] * 4) + " Summarise this history in two sentences."
"""A prompt of about two hundred tokens, for prefill (batch and ubatch) measurements."""


def seed_for(prompt_index: int, expert: str) -> int:
    """A fixed seed per prompt and expert, the same for LiveMind and the peers."""
    return SEED + 100 * prompt_index + sum(map(ord, expert))


CODE_TASK = "Complete the following Python function."
CODE_SIGNATURE = '''def running_max(numbers: list[int]) -> list[int]:
    """Return a list whose i-th element is the largest of numbers[0], ..., numbers[i].

    >>> running_max([1, 3, 2, 5, 4])
    [1, 3, 3, 5, 5]
    >>> running_max([])
    []
    >>> running_max([-2, -5, -1])
    [-2, -2, -1]
    """
'''
CODE_TESTS = "assert running_max([7]) == [7]\nassert running_max([2, 2, 1, 3]) == [2, 2, 2, 3]"
"""A HumanEval-sized task (written for LiveMind): the coding prompt of the batched-sampling figures."""
CODE_EXPERT = "coder"
"""The expert that writes the sampled candidates (the single expert when a council has no coder)."""
