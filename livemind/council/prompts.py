"""Debate logic over plain values: the prompts each round, anonymous labels, agreement."""

from __future__ import annotations

import hashlib
import string
from collections.abc import Sequence

from livemind.types import ChatMessage, ExpertSpec, Position

ANSWER_STYLE = ("If the question needs working, reason step by step; otherwise answer directly in at most 150 words. "
                "End with your conclusion.")
"""Leaves room to reason (a brevity rule must not forbid working) and asks opinions to be short.

Measured on Qwen2.5-Coder-1.5B with the mathematician persona (docs/councils.md): 21 of 30 arithmetic
questions right. Two rewordings that looked better for opinions did worse: "unless the question asks you to
work something out, state your position first" cut the first 9 questions from 6 right to 3; spelling out
both branches made the model refuse one question ("I'm sorry, but I cannot assist with that").
"""
REVISION_MARKER = "Other experts answered the same question"
"""Opens every revision request: fakes and tools recognise a debate round by it, not by its wording."""
SYNTHESIS_MARKER = "Final positions of the experts"
"""Heads the positions in every synthesis request."""
SYNTHESIS_FORMAT = ("Weigh the experts' arguments and write exactly these four lines, each one or two sentences "
                    "in your own words, in the language of the question:\n"
                    "Verdict: <the council's answer to the question>\n"
                    "Because: <the strongest reason for the verdict>\n"
                    "But: <the strongest reason against it>\n"
                    "Disagreement: <what the experts still disagree on, or none>")
NUMERIC_LINE = "\nAnswer: <the number the council settles on, digits only>"
"""Added to the template when at least half the final positions give a number (a checkable question)."""
"""The synthesiser fills in a template: asked for "one paragraph, no lists", the 1.5B model copied one
expert's answer verbatim, lists and all; asked for these lines, it wrote its own verdict and reasons."""

COUNCIL_SYSTEM = ("You are a member of a council of experts. Each expert answers the question in its own voice; "
                  "in later rounds every expert reads all the council's answers and revises its own.")
"""The shared layout's system text: the same for every expert and always present (Qwen2.5 adds its own
default system prompt when none is given, which would differ from a persona-less start)."""
SHARED_END = "\n\n---\n\n"
"""Ends the shared transcript; the expert's private text follows it in the same user turn."""


def label_for(index: int) -> str:
    """Anonymous label: Expert A, Expert B, ..."""
    letters = string.ascii_uppercase
    return f"Expert {letters[index % 26]}{'' if index < 26 else index // 26}"


def expert_seed(seed: int | None, expert: str, round_index: int) -> int | None:
    """A per-expert, per-round seed derived from the session seed, so replays are exact."""
    if seed is None:
        return None
    digest = hashlib.sha256(f"{seed}:{expert}:{round_index}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def first_answer_messages(expert: ExpertSpec, question: str) -> list[ChatMessage]:
    """An independent first answer: the expert sees only the question."""
    return [
        ChatMessage(role="system", content=expert.persona),
        ChatMessage(role="user", content=f"{question}\n\n{ANSWER_STYLE}"),
    ]


def others_block(others: Sequence[Position]) -> str:
    """The other experts' latest answers under their anonymous labels."""
    return "\n\n".join(f"{p.label}: {p.text}" for p in others)


def revision_messages(expert: ExpertSpec, question: str, own: Sequence[Position],
                      others_by_round: Sequence[Sequence[Position]]) -> list[ChatMessage]:
    """The expert's conversation so far, extended with the others' answers and a request to revise.

    Earlier rounds stay verbatim in the same order, so each round's prompt extends the last
    one and an engine that keeps the KV cache only has to read the new turn.
    """
    messages = first_answer_messages(expert, question)
    for index, mine in enumerate(own):
        messages.append(ChatMessage(role="assistant", content=mine.text))
        if index < len(others_by_round):
            messages.append(ChatMessage(role="user", content=(
                f"{REVISION_MARKER}:\n\n"
                f"{others_block(others_by_round[index])}\n\n"
                "Check their reasoning against yours. Change your answer only where they showed a real "
                "mistake or a better argument, not because they disagree; keep your own view otherwise. "
                f"Give your revised answer to: {question}\n{ANSWER_STYLE}")))
    return messages


# -- the shared transcript layout (docs/design/debate-speed.md, 1.2) ---------------------------------
#
# One user turn per prompt, so templates with strict role alternation still work. It starts with the
# transcript every expert of the round reads byte for byte (the question, then every earlier round's
# answers, the reader's own included), so an engine can compute that prefix once and copy it; the
# expert's persona and instructions come last, after SHARED_END.


def answers_block(positions: Sequence[Position]) -> str:
    """All experts' answers of one round under their anonymous labels, the reader's own included."""
    return "\n\n".join(f"{p.label}: {p.text}" for p in positions)


def shared_transcript(question: str, rounds: Sequence[Sequence[Position]]) -> str:
    """The question and each earlier round's answers: round r+1's transcript extends round r's."""
    parts = [f"Question: {question}"]
    parts += [f"Answers, round {k + 1}:\n\n{answers_block(positions)}" for k, positions in enumerate(rounds)]
    return "\n\n".join(parts)


def shared_first_answer_messages(expert: ExpertSpec, question: str) -> list[ChatMessage]:
    """A first answer in the shared layout: only the system text and the question are shared."""
    return _shared(question, (), f"{expert.persona}\n\n{ANSWER_STYLE}")


def shared_revision_messages(expert: ExpertSpec, label: str, question: str,
                             rounds: Sequence[Sequence[Position]]) -> list[ChatMessage]:
    """A revision in the shared layout: every round's answers and the request (shared), then who the expert is.

    `label` is the expert's own anonymous label, the one its answers carry in `rounds`. The request is
    the same for every expert, so it sits in the shared part, read once; only the persona and the label
    stay private (about 50 tokens: in the first version, with the request private, 142 tokens left
    the bench's round-2 ratio at 0.469).
    """
    request = (f"{REVISION_MARKER} (above). Check their reasoning against yours. Change your answer only where they "
               "showed a real mistake or a better argument, not because they disagree; keep your own view otherwise. "
               f"{ANSWER_STYLE}")
    private = f"{expert.persona}\n\nYou are {label}; the answer labelled {label} is yours. Give your revised answer."
    return _shared(question, rounds, private, request=request)


def _shared(question: str, rounds: Sequence[Sequence[Position]], private: str, *, request: str = "") -> list[ChatMessage]:
    shared = shared_transcript(question, rounds) + (f"\n\n{request}" if request else "")
    return [
        ChatMessage(role="system", content=COUNCIL_SYSTEM),
        ChatMessage(role="user", content=shared + SHARED_END + private),
    ]


def synthesis_messages(synthesizer: ExpertSpec, question: str, positions: Sequence[Position], *,
                       is_numeric: bool = False) -> list[ChatMessage]:
    """Ask the synthesiser for one final answer from the final positions, ending with the format to follow.

    `is_numeric` (at least half the positions state a number) adds an `Answer:` line to the template.
    Asked for it conditionally ("if the question asks for a number"), the 1.5B model echoed the condition
    and invented a number for a yes/no question. Asked for it only when *every* position stated a number,
    the word-problem eval lost 11 of 20 debate answers: one expert's reply ran out of tokens, and the
    synthesis then wrote "Verdict: 38 rolls" with no line the answer could be read from.
    """
    listing = "\n\n".join(f"{p.label}: {p.text}" for p in positions)
    return [
        ChatMessage(role="system", content=synthesizer.persona),
        ChatMessage(role="user", content=(
            f"Question: {question}\n\n{SYNTHESIS_MARKER}:\n\n{listing}\n\n"
            f"Write the council's answer to: {question}\n" + SYNTHESIS_FORMAT + (NUMERIC_LINE if is_numeric else ""))),
    ]


def is_unchanged(previous: Sequence[Position], current: Sequence[Position]) -> bool:
    """Whether every expert repeated its previous answer word for word."""
    before = {p.expert: " ".join(p.text.split()) for p in previous}
    return bool(current) and all(before.get(p.expert) == " ".join(p.text.split()) for p in current)


def turn_messages(expert: ExpertSpec, question: str, earlier: Sequence[Position]) -> list[ChatMessage]:
    """Turn-based first answer: the expert sees the answers given so far in this round."""
    messages = first_answer_messages(expert, question)
    if earlier:
        messages[-1] = ChatMessage(role="user", content=(
            f"{question}\n\nOther experts have answered so far:\n\n{others_block(earlier)}\n\n"
            f"Give your own answer. {ANSWER_STYLE}"))
    return messages
