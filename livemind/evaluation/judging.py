"""How the numeric eval judges a reply: read by the one rule, costed, and marked when cut off or failed."""

from __future__ import annotations

from livemind.council.extraction import ExtractionRule
from livemind.evaluation.reading import is_cut_off, read_reply
from livemind.evaluation.results import Attempt, CouncilAttempt
from livemind.types import DebateResult


def judged(text: str, tokens: int, seconds: float, rule: ExtractionRule, *, prompt_tokens: int = 0,
           prompt_length: int = 0, was_cut_off: bool = False) -> Attempt:
    """A reply read by the eval's one rule, with what it cost."""
    extraction = read_reply(text, rule, is_cut_off=was_cut_off)
    return Attempt(text=text, extracted=extraction.value, failure=extraction.failure, tokens=tokens,
                   seconds=round(seconds, 3), prompt_tokens=prompt_tokens, prompt_length=prompt_length or prompt_tokens,
                   is_cut_off=was_cut_off)


def council_cut_off(result: DebateResult, max_tokens: int) -> bool:
    """Whether a council's final reply stopped at its token limit.

    A reply that is one of the positions (a vote's or select's pick, the most central position when
    the synthesis failed) is cut off when that position is; a synthesis, when its own tokens (the
    council's, less every position's) reach the limit.
    """
    positions = [p for record in result.history for p in record.positions]
    chosen = next((p for p in positions if p.text == result.answer), None)
    if chosen is not None:
        return is_cut_off(chosen.tokens, max_tokens)
    return is_cut_off(result.tokens - sum(p.tokens for p in positions), max_tokens)


def failed_attempt(exc: Exception, seconds: float) -> Attempt:
    """A reply the engine could not give: no answer, the error kept."""
    return Attempt(text="", extracted=None, failure=f"error: {exc}", tokens=0, seconds=round(seconds, 3))


def failed_council(exc: Exception, seconds: float) -> CouncilAttempt:
    """A council that failed before answering."""
    return CouncilAttempt(reply=failed_attempt(exc, seconds), session_id=None, rounds=0, stop_reason=f"failed: {exc}",
                          synthesizer="", synthesis_error=None, positions=())
