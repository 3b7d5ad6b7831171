"""The shared transcript layout: every expert's prompt of a round starts with the same bytes and tokens."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from livemind.config import load_config
from livemind.council.prompts import (
    ANSWER_STYLE,
    COUNCIL_SYSTEM,
    REVISION_MARKER,
    SHARED_END,
    label_for,
    shared_first_answer_messages,
    shared_revision_messages,
    shared_transcript,
)
from livemind.engine.backends.llama_sequence import TemplateRecorder, common_prefix
from livemind.engine.catalog import ModelCatalog
from livemind.types import ChatMessage, ExpertSpec, Position

DEFAULT_MODEL = Path.home() / ".cache" / "livemind" / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
QUESTION = "A train leaves at 9:40 and arrives at 13:05. How many minutes does the trip take?"
ANSWERS = (
    "From 9:40 to 12:40 is 3 hours, which is 180 minutes. From 12:40 to 13:05 is another 25 minutes. "
    "Adding them gives 180 + 25 = 205 minutes. So the trip takes 205 minutes, or 3 hours and 25 minutes.",
    "Let us count in steps. 9:40 to 10:00 is 20 minutes. 10:00 to 13:00 is 3 hours, that is 180 minutes. "
    "13:00 to 13:05 is 5 minutes. In total 20 + 180 + 5 = 205 minutes. The answer is 205.",
    "Convert both times to minutes after midnight: 9:40 is 9 × 60 + 40 = 580 and 13:05 is 13 × 60 + 5 = 785. "
    "The difference is 785 - 580 = 205. I conclude the trip lasts 205 minutes.",
)


def _experts() -> list[ExpertSpec]:
    """The default council's first three experts: real personas, in council order."""
    config = load_config(None, ModelCatalog(Path("/nonexistent")), council="default", check_files=False)
    return list(config.experts[:3])


def _round(k: int, texts: Sequence[str], experts: Sequence[ExpertSpec]) -> list[Position]:
    return [Position(expert=e.name, label=label_for(i), round=k, text=f"{t} (round {k + 1})", tokens=60,
                     prompt_tokens=200, total_s=1.0)
            for i, (e, t) in enumerate(zip(experts, texts, strict=True))]


def _prompts(experts: Sequence[ExpertSpec], rounds: Sequence[Sequence[Position]]) -> list[list[ChatMessage]]:
    if not rounds:
        return [shared_first_answer_messages(e, QUESTION) for e in experts]
    return [shared_revision_messages(e, label_for(i), QUESTION, rounds) for i, e in enumerate(experts)]


def _rendered(messages: Sequence[ChatMessage]) -> str:
    return "".join(f"<|{m.role}|>\n{m.content}\n" for m in messages)


def _shared_part(messages: Sequence[ChatMessage]) -> str:
    """The rendered prompt up to the end of the shared transcript."""
    text = _rendered(messages)
    return text[:text.index(SHARED_END) + len(SHARED_END)]


def test_shared_prompts_of_each_round_start_alike_and_extend_the_last_round() -> None:
    experts = _experts()
    history = [_round(0, ANSWERS, experts), _round(1, ANSWERS, experts)]
    shared_parts = []
    for r in range(3):
        prompts = _prompts(experts, history[:r])
        parts = {_shared_part(p) for p in prompts}
        assert len(parts) == 1, f"round {r}: the experts' prompts differ before the private suffix"
        shared = parts.pop()
        assert shared.startswith(f"<|system|>\n{COUNCIL_SYSTEM}\n<|user|>\nQuestion: {QUESTION}")
        assert all(p.text in shared for earlier in history[:r] for p in earlier), "every answer, own included"
        for i, (expert, prompt) in enumerate(zip(experts, prompts, strict=True)):
            assert [m.role for m in prompt] == ["system", "user"]
            private = _rendered(prompt)[len(shared):]
            assert private.startswith(expert.persona)
            if r:
                assert f"You are {label_for(i)}; the answer labelled {label_for(i)} is yours." in private
                assert REVISION_MARKER not in private and ANSWER_STYLE not in private, "the request is read once, shared"
                assert REVISION_MARKER in shared and ANSWER_STYLE in shared
            else:
                assert private.rstrip().endswith(ANSWER_STYLE)
        shared_parts.append(shared.removesuffix(SHARED_END))
    header = f"<|system|>\n{COUNCIL_SYSTEM}\n<|user|>\n"
    for r, part in enumerate(shared_parts):  # each round's transcript extends the last one's; the request follows it
        assert part.startswith(header + shared_transcript(QUESTION, history[:r]))


def test_answers_keep_their_label_and_order_in_every_round() -> None:
    experts = _experts()
    history = [_round(0, ANSWERS, experts), _round(1, ANSWERS, experts)]
    transcript = shared_transcript(QUESTION, history)
    first, second = transcript.index("Answers, round 1:"), transcript.index("Answers, round 2:")
    for k, start in ((0, first), (1, second)):
        places = [transcript.index(f"{label_for(i)}: {history[k][i].text}", start) for i in range(3)]
        assert places == sorted(places), f"round {k + 1}: the answers are not in council order"


@pytest.mark.models
def test_round_one_prompt_tokens_share_a_prefix_covering_every_answer() -> None:
    if not DEFAULT_MODEL.is_file():
        pytest.skip(f"model file missing: {DEFAULT_MODEL}; run `livemind models pull`")
    recorder = TemplateRecorder(model_path=str(DEFAULT_MODEL), vocab_only=True, verbose=False)
    try:
        experts = _experts()
        history = [_round(0, ANSWERS, experts)]
        tokens = [recorder.chat_prompt(p)[0] for p in _prompts(experts, history)]
        transcript = recorder.tokenize(shared_transcript(QUESTION, history).encode(), add_bos=False, special=False)
    finally:
        recorder.close()
    shared = min(common_prefix(tokens[0], t) for t in tokens[1:])
    private = [len(t) - shared for t in tokens]
    figures = f"shared {shared} tokens, question + answers {len(transcript)}, private {private}"
    assert shared >= len(transcript), f"the shared prefix stops inside the answers: {figures}"
    assert max(private) <= 200 and max(private) < shared / 2, f"the private suffixes are long: {figures}"
