"""Prompt-lookup drafting: the n-gram index, and the batch backend's verify step on a real model.

The claim drafting makes is narrow: the text is the plain path's, token for token, greedy or
seeded (and so is the confidence, each token's log-prob read from its own row), and only the
number of decode steps falls. The real-model tests hold it to exact
equality on a prompt that asks the model to repeat a passage (where guesses are accepted), with
guesses forced wrong (every one rejected and rolled back), and they check that the KV cache
holds exactly the accepted tokens afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import llama_cpp
import pytest

from livemind.engine.backends import lookup
from livemind.engine.backends.base import LoadTarget
from livemind.engine.backends.llama_batch import LlamaBatchBackend
from livemind.engine.backends.llama_loader import LlamaBatchLoader
from livemind.engine.backends.lookup import PromptLookup
from livemind.engine.catalog import ModelCatalog
from livemind.types import ChatMessage, Completion, EngineSettings, GenerationRequest, SamplingSettings

PASSAGE = ("The council reads the question, each expert answers on its own, and then every expert reads the "
           "others' answers and revises its own. A revision repeats most of the first answer: the same steps, "
           "the same numbers, the same conclusion, with a sentence changed where another expert showed a mistake.")


def test_the_latest_occurrence_of_the_longest_matching_tail_gives_the_guess() -> None:
    index = PromptLookup()
    context = [1, 2, 3, 4, 5, 9, 9, 1, 2, 3]
    assert index.draft(context, 3) == [4, 5, 9]
    context.append(4)
    assert index.draft(context, 2) == [5, 9], "the index grows with the context"
    context += [7, 8, 2, 3, 6, 0, 2, 3]
    assert index.draft(context, 1) == [6], "the latest occurrence of the tail wins"
    context.append(42)
    assert index.draft(context, 4) == [], "no earlier occurrence: no guess"
    assert PromptLookup().draft([5, 5, 5], 0) == []


def test_a_two_token_tail_is_used_when_no_three_token_one_matches() -> None:
    assert PromptLookup().draft([8, 1, 2, 7, 3, 1, 2], 2) == [7, 3]
    assert PromptLookup(sizes=(3,)).draft([8, 1, 2, 7, 3, 1, 2], 2) == []


@pytest.fixture(scope="module")
def qwen(catalog: ModelCatalog) -> Iterator[LlamaBatchBackend]:
    """The default council's smaller sibling: same family, same Q4_K_M layout, loads in a second."""
    resolved = catalog.resolve("qwen2.5-coder-0.5b")
    backend = LlamaBatchLoader().load(LoadTarget(model="qwen2.5-coder-0.5b", path=resolved.path,
                                                 engine=EngineSettings(n_ctx=1024, n_seq_max=3, lookup_draft=2),
                                                 chat_format=resolved.chat_format))
    yield backend
    backend.close()


def _repeat(instruction: str, **sampling: object) -> GenerationRequest:
    settings = {"temperature": 0.0, "max_tokens": 72, **sampling}
    return GenerationRequest(messages=(ChatMessage(role="user", content=f"{PASSAGE}\n\n{instruction}"),),
                             sampling=SamplingSettings(**settings))  # type: ignore[arg-type]


def _run(backend: LlamaBatchBackend, requests: Sequence[GenerationRequest], draft: int) -> tuple[list[Completion], int]:
    backend.forget()
    backend.lookup_draft = draft
    calls = backend.decode_calls
    try:
        completions = backend.generate_many(requests)
    finally:
        backend.lookup_draft = backend.engine.lookup_draft
    return completions, backend.decode_calls - calls


def _cache_matches_slots(backend: LlamaBatchBackend) -> None:
    memory = llama_cpp.llama_get_memory(backend._ctx)
    for slot in backend.kv.slots:
        held = llama_cpp.llama_memory_seq_pos_max(memory, slot.seq_id)
        assert held == len(slot.tokens) - 1, f"sequence {slot.seq_id}: cache ends at {held}, slot holds {len(slot.tokens)}"


@pytest.mark.slow
@pytest.mark.parametrize("sampling", [{"temperature": 0.0}, {"temperature": 0.7, "seed": 11}], ids=["greedy", "seeded"])
def test_drafting_gives_the_plain_text_in_fewer_decode_steps(qwen: LlamaBatchBackend, sampling: dict[str, object]) -> None:
    request = _repeat("Repeat the paragraph above word for word.", **sampling)
    (plain,), plain_calls = _run(qwen, [request], draft=0)
    (drafted,), drafted_calls = _run(qwen, [request], draft=2)
    assert drafted.text == plain.text
    assert drafted.completion_tokens == plain.completion_tokens
    # each kept guess is scored against its own row's logits, as the plain path scores that token
    assert drafted.mean_logprob == pytest.approx(plain.mean_logprob, abs=1e-4)
    assert drafted.accepted_draft_tokens > 0 and drafted.draft_tokens >= drafted.accepted_draft_tokens
    assert drafted_calls < plain_calls, (drafted_calls, plain_calls)
    assert plain.draft_tokens == 0
    _cache_matches_slots(qwen)


@pytest.mark.slow
def test_wrong_guesses_are_all_rolled_back_and_change_nothing(qwen: LlamaBatchBackend,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    request = _repeat("Repeat the paragraph above word for word.")
    (plain,), _ = _run(qwen, [request], draft=0)

    def wrong(self: PromptLookup, context: Sequence[int], limit: int) -> list[int]:
        return [(context[-1] + 1 + i) % 1000 for i in range(limit)]  # never the token that follows

    monkeypatch.setattr(lookup.PromptLookup, "draft", wrong)
    (drafted,), _ = _run(qwen, [request], draft=2)
    assert drafted.text == plain.text
    assert drafted.mean_logprob == pytest.approx(plain.mean_logprob, abs=1e-4), "rejected rows are never scored"
    assert drafted.draft_tokens > 0 and drafted.accepted_draft_tokens == 0
    _cache_matches_slots(qwen)
    (again,), _ = _run(qwen, [request], draft=0)
    assert again.text == plain.text, "a rolled-back sequence is reused cleanly"


@pytest.mark.slow
def test_exact_drafting_waits_while_three_sequences_share_a_step_and_fast_drafting_does_not(
        qwen: LlamaBatchBackend) -> None:
    requests = [_repeat(f"Repeat the paragraph above word for word, then add: ({i}).") for i in range(3)]
    plain, _ = _run(qwen, requests, draft=0)
    exact, _ = _run(qwen, requests, draft=2)
    assert [c.text for c in exact] == [c.text for c in plain]
    qwen.lookup_exact = False
    try:
        fast, _ = _run(qwen, requests, draft=2)
    finally:
        qwen.lookup_exact = True
    assert all(c.draft_tokens > 0 for c in fast), [c.draft_tokens for c in fast]
    assert sum(c.draft_tokens for c in exact) < sum(c.draft_tokens for c in fast) / 2, \
        ("three rows already fill an exact step: it guesses only after others finish",
         [c.draft_tokens for c in exact], [c.draft_tokens for c in fast])
    assert all(c.accepted_draft_tokens > 0 for c in fast)
    _cache_matches_slots(qwen)
