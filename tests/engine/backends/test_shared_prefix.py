"""A prompt start shared by several sequences is read once and copied (llama_memory_seq_cp).

On SmolLM2 (Q4_1, whose matrix products do not depend on how many rows a step holds) a copied
start gives the same text as reading the whole prompt, greedy and seeded, whether the source is
still reading, decoding or idle. On the Q4_K_M Qwen models the rows of a step change the rounding
(docs/design/debate-speed.md), so there the tests check the mechanics, not the text.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from livemind.engine.backends.base import LoadTarget, SequenceJob
from livemind.engine.backends.kv_sequences import MIN_COPY_GAIN
from livemind.engine.backends.llama_batch import LlamaBatchBackend
from livemind.engine.backends.llama_loader import LlamaBatchLoader
from livemind.engine.catalog import ModelCatalog
from livemind.types import ChatMessage, Completion, EngineSettings, GenerationRequest, SamplingSettings

pytestmark = pytest.mark.slow
TRANSCRIPT = "Question: what makes a debate among experts useful?\n\nAnswers, round 1:\n\n" + "\n\n".join(
    f"Expert {label}: " + " ".join(f"Point {i}: experts with different views {verb} each other's claims."
                                   for i, verb in enumerate(["check", "test", "question", "weigh", "probe", "refine"] * 2))
    for label in "ABC") + "\n\n---\n"


def _load(catalog: ModelCatalog, name: str) -> LlamaBatchBackend:
    resolved = catalog.resolve(name)
    return LlamaBatchLoader().load(LoadTarget(model=name, path=resolved.path, chat_format=resolved.chat_format,
                                              engine=EngineSettings(n_ctx=1024, n_seq_max=4, lookup_draft=0)))


@pytest.fixture(scope="module")
def smol(catalog: ModelCatalog) -> Iterator[LlamaBatchBackend]:
    backend = _load(catalog, "smollm2-135m")
    yield backend
    backend.close()


def _request(index: int, *, conversation: str | None = None, **sampling: object) -> GenerationRequest:
    settings = {"temperature": 0.0, "max_tokens": 24, **sampling}
    return GenerationRequest(messages=(ChatMessage(role="system", content="You are a member of a council."),
                                       ChatMessage(role="user", content=TRANSCRIPT + f"You are Expert {'ABCD'[index]}. "
                                                   "Revise your answer in two sentences.")),
                             sampling=SamplingSettings(**settings), conversation=conversation)  # type: ignore[arg-type]


def _alone(backend: LlamaBatchBackend, requests: list[GenerationRequest]) -> list[str]:
    sharing, backend.kv.share_prefixes = backend.kv.share_prefixes, False
    try:
        texts = []
        for request in requests:
            backend.forget()
            texts.append(backend.generate(request).text)
        return texts
    finally:
        backend.kv.share_prefixes = sharing


def _read_and_copied(completions: list[Completion]) -> tuple[list[int], list[int]]:
    return [c.prompt_tokens for c in completions], [c.copied_prompt_tokens for c in completions]


@pytest.mark.parametrize("sampling", [{}, {"temperature": 0.8, "seed": 3}], ids=["greedy", "seeded"])
def test_three_prompts_with_one_start_read_it_once_and_answer_as_if_each_read_it_all(
        smol: LlamaBatchBackend, sampling: dict[str, object]) -> None:
    requests = [_request(i, **sampling) for i in range(3)]
    alone = _alone(smol, requests)
    smol.forget()
    together = smol.generate_many(requests)
    assert [c.text for c in together] == alone
    read, copied = _read_and_copied(together)
    total = smol.count_tokens(requests[0].messages)
    assert copied[0] == 0 and read[0] == total, "the first reads the shared start"
    assert all(c >= total - 40 for c in copied[1:]), (read, copied)
    assert sum(read) <= total + 2 * 40, f"prompt tokens read {read} for three prompts of {total}"


def test_a_copy_from_a_sequence_already_decoding_gives_the_same_text(smol: LlamaBatchBackend) -> None:
    first, second = _request(0, max_tokens=40), _request(1)
    alone = _alone(smol, [first, second])
    smol.forget()
    results: dict[int, Completion] = {}
    jobs = [SequenceJob(first), SequenceJob(second)]
    assert smol.admit(jobs[0])
    while not any(s.generated for s in smol._active):  # the first is past its prompt and decoding
        smol.step()
    assert smol.admit(jobs[1])
    while smol._active:
        for done in smol.step():
            assert done.completion is not None
            results[id(done.job)] = done.completion
    assert [results[id(j)].text for j in jobs] == alone
    assert results[id(jobs[1])].copied_prompt_tokens >= MIN_COPY_GAIN


def test_an_idle_sequence_of_another_conversation_lends_its_start(smol: LlamaBatchBackend) -> None:
    first, second = _request(0, conversation="one"), _request(1, conversation="two")
    alone = _alone(smol, [first, second])
    smol.forget()
    smol.generate(first)
    copied = smol.generate(second)
    assert copied.text == alone[1]
    assert copied.copied_prompt_tokens >= MIN_COPY_GAIN and copied.cached_prompt_tokens == 0
    assert smol.generate(first).cached_prompt_tokens > 0, "the lender keeps its own conversation"


def test_a_follower_whose_leader_is_cancelled_reads_its_prompt_itself(smol: LlamaBatchBackend) -> None:
    leader, follower = _request(0), _request(1)
    (alone,) = _alone(smol, [follower])
    smol.forget()
    stop = threading.Event()
    jobs = [SequenceJob(leader, cancel=stop), SequenceJob(follower)]
    assert smol.admit(jobs[0]) and smol.admit(jobs[1])
    smol.step()  # the leader reads its first chunk; the follower waits
    stop.set()
    results = {}
    while smol._active:
        for done in smol.step():
            results[id(done.job)] = done.completion
    assert results[id(jobs[0])].finish_reason == "cancelled"
    assert results[id(jobs[1])].text == alone


def test_streams_are_only_ever_copied_whole() -> None:
    """A seq_cp with a partial range aborts the process (GGML_ASSERT in llama.cpp): one helper makes every copy."""
    calls = [(path, line) for path in Path("livemind").rglob("*.py")
             for line in path.read_text().splitlines() if "seq_cp(" in line]
    assert len(calls) == 1 and re.search(r"seq_cp\(self\._memory, source, dest, -1, -1\)", calls[0][1]), calls


def test_qwen_debate_transcript_is_read_once_for_three_experts(catalog: ModelCatalog) -> None:
    """The default council's family: the copy happens and the prompt work falls; the text is not compared."""
    backend = _load(catalog, "qwen2.5-coder-0.5b")
    try:
        requests = [_request(i) for i in range(3)]
        private_read = 3 * backend.count_tokens(requests[0].messages)
        backend.forget()
        read, copied = _read_and_copied(backend.generate_many(requests))
    finally:
        backend.close()
    assert copied[1] > 0 and copied[2] > 0
    assert sum(read) < 0.45 * private_read, (read, private_read)
