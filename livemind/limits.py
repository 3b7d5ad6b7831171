"""One set of bounds for every way in: the core checks them; HTTP, MCP and the CLI declare the same ones.

    core (`LiveMind`)  check_*() below, raising InvalidRequestError that names the field
    HTTP wire models   the Annotated types below (a violation is a 400 naming the field)
    MCP tool arguments the Annotated types, with the tighter AGENT_* caps where a coding agent needs them
    CLI                passes values straight to the core, so it answers as the core does

A value out of these bounds is refused the same way whichever door it came through
(tests/interfaces/test_limits.py sends the same values through all four).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from livemind.errors import InvalidRequestError

QUESTION_CHARS = 16_000  # one question, every chat message folded in; ~4k tokens, the default n_ctx
EXPERTS = 8  # experts named in one request
ROUNDS = 10  # revision rounds after the first answers
TOKENS = 4096  # generated tokens per answer (the default n_ctx)
SAMPLES = (2, 16)  # `select`: answers sampled per expert
SEED_MAX = 2**31 - 1  # llama.cpp takes a 32-bit seed; 31 bits stay exact in every JSON client
TEMPERATURE_MAX = 2.0
NAME_CHARS = 64

# A coding agent's tool call blocks the agent until it returns, so MCP caps a call at what
# finishes in minutes on a small CPU server: 5 experts × 5 rounds × 1024 tokens is already
# ~25k generated tokens, over an hour at 7 tok/s. They are derived, never looser than the core's.
AGENT_EXPERTS = min(5, EXPERTS)
AGENT_ROUNDS = min(5, ROUNDS)
AGENT_TOKENS = min(1024, TOKENS)

QuestionText = Annotated[str, Field(min_length=1, max_length=QUESTION_CHARS)]
ExpertName = Annotated[str, Field(min_length=1, max_length=NAME_CHARS, pattern=r"^[\w.-]+$")]
ExpertNames = Annotated[list[ExpertName], Field(min_length=1, max_length=EXPERTS)]
RoundCount = Annotated[int, Field(ge=0, le=ROUNDS)]
TokenCap = Annotated[int, Field(ge=1, le=TOKENS)]
SeedValue = Annotated[int, Field(ge=0, le=SEED_MAX)]
Temperature = Annotated[float, Field(ge=0.0, le=TEMPERATURE_MAX)]
SampleCount = Annotated[int, Field(ge=SAMPLES[0], le=SAMPLES[1])]
SessionIdText = Annotated[str, Field(min_length=1, max_length=NAME_CHARS, pattern=r"^[\w-]+$")]


def check_range(field: str, value: float | None, low: float, high: float, *, hint: str) -> None:
    """Refuse a value outside [low, high], naming the field and the bounds."""
    if value is not None and not low <= value <= high:
        raise InvalidRequestError(f"{field} must be between {low:g} and {high:g}, got {value}", hint=hint)


def check_question(question: object) -> str:
    """The question, stripped; refused when empty or over QUESTION_CHARS."""
    if not isinstance(question, str) or not question.strip():
        raise InvalidRequestError("question is empty", hint="pass a non-empty question")
    if len(question) > QUESTION_CHARS:
        raise InvalidRequestError(f"question is {len(question)} characters, over the limit of {QUESTION_CHARS}",
                                  hint="shorten it: the limit counts every chat message folded into one question")
    return question.strip()


def check_generation(*, max_tokens: int | None = None, seed: int | None = None,
                     temperature: float | None = None) -> None:
    """Refuse a token cap, seed or temperature out of bounds."""
    check_range("max_tokens", max_tokens, 1, TOKENS, hint=f"use 1-{TOKENS}")
    check_range("seed", seed, 0, SEED_MAX, hint=f"use an integer from 0 to {SEED_MAX}")
    check_range("temperature", temperature, 0.0, TEMPERATURE_MAX, hint="use 0-2 (0 is greedy)")


def check_council(*, experts: int | None = None, rounds: int | None = None, samples: int | None = None) -> None:
    """Refuse too many experts, rounds or samples."""
    check_range("experts", experts, 0, EXPERTS, hint=f"name at most {EXPERTS} experts")
    check_range("rounds", rounds, 0, ROUNDS, hint=f"use 0-{ROUNDS} revision rounds")
    check_range("samples", samples, SAMPLES[0], SAMPLES[1], hint="ask for fewer samples per expert")
