"""How the eval reads a reply: one rule for every method, whoever wrote the reply.

The best single expert's answer, every self-consistency sample, the council's first answers and
revisions, select's pick and the synthesiser's answer are all read by `read_reply`: the run's
extraction rule (livemind.council.extraction) for a question that asks for a number, so the
one fallback (a reply that states no answer is read by its last number) applies to each alike.

A reply cut off at its token limit gets no fallback. An expert's own reply (single answer,
sample, first answer, revision) is cut off when its generated tokens reach the run's
`max_tokens`; a council's final reply when the position it answers with is, or when the
synthesis's own tokens reach it (the runner records which: `Attempt.is_cut_off`). Runs stored
before that was recorded keep only the council's total tokens: `livemind eval --rescore` then
works it out where it can (see livemind.evaluation.rescore) and reads the rest as finished.
"""

from __future__ import annotations

from livemind.council.extraction import Extraction, ExtractionRule, extract_answer


def read_reply(text: str, rule: ExtractionRule, *, is_cut_off: bool) -> Extraction:
    """The answer the eval reads in one reply (every eval question asks for a number)."""
    return extract_answer(text, rule, is_cut_off=is_cut_off, is_numeric=True)


def is_cut_off(tokens: int, max_tokens: int) -> bool:
    """Whether an expert's reply stopped at its token limit (its generated tokens reached it)."""
    return tokens >= max_tokens
