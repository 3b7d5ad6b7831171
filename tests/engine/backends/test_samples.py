"""Many candidates of one prompt, or of prompts with one start, in one batch of eight (issue 30, part 1).

Samples of one prompt read it once: the first sample reads it, the others copy its KV stream
(`llama_memory_seq_cp`) and sample their first token from its logits row (kv_sequences.py,
`attach_twins`). Prompts that share a start copy that start. On SmolLM2 (Q4_1, whose matrix
products do not depend on how many rows a step holds) every text is then the one decoded alone;
on the repacked Q4_K_M Qwen models the rows of a step change the rounding (docs/design/debate-speed.md),
so there the test counts tokens and leaves the text alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from livemind.engine.backends.base import LoadTarget, SequenceJob
from livemind.engine.backends.llama_batch import LlamaBatchBackend
from livemind.engine.backends.llama_loader import LlamaBatchLoader
from livemind.engine.catalog import ModelCatalog
from livemind.types import ChatMessage, Completion, EngineSettings, GenerationRequest, SamplingSettings

pytestmark = pytest.mark.slow
TASK = (ChatMessage(role="system", content="You are a careful Python programmer."),
        ChatMessage(role="user", content="Write a Python function is_palindrome(s) that ignores case and spaces."))
START = ("Here is a function and its tests.\n\ndef add(a, b):\n    return a + b\n\n"
         + "\n".join(f"assert add({i}, {i + 1}) == {2 * i + 1}" for i in range(24)) + "\n\n")
ASKS = ("Explain it in one sentence.", "Name one test that is missing.", "Rename it better.", "Add a docstring.",
        "Is it correct?", "Write it as a lambda.", "Add type hints.", "What does add(2, 2) return?")


def _load(catalog: ModelCatalog, name: str) -> LlamaBatchBackend:
    resolved = catalog.resolve(name)
    return LlamaBatchLoader().load(LoadTarget(model=name, path=resolved.path, chat_format=resolved.chat_format,
                                              engine=EngineSettings(n_ctx=1024, n_seq_max=8)))


@pytest.fixture(scope="module")
def smol8(catalog: ModelCatalog) -> Iterator[LlamaBatchBackend]:
    backend = _load(catalog, "smollm2-135m")
    yield backend
    backend.close()


def _samples(n: int = 8, max_tokens: int = 24) -> list[GenerationRequest]:
    return [GenerationRequest(messages=TASK, sampling=SamplingSettings(temperature=0.8, seed=seed, max_tokens=max_tokens))
            for seed in range(n)]


def _alone(backend: LlamaBatchBackend, requests: list[GenerationRequest]) -> list[Completion]:
    sharing, backend.kv.share_prefixes = backend.kv.share_prefixes, False
    try:
        done = []
        for request in requests:
            backend.forget()
            done.append(backend.generate(request))
        return done
    finally:
        backend.kv.share_prefixes = sharing


def test_eight_samples_of_one_prompt_read_it_once_and_each_samples_as_if_alone(smol8: LlamaBatchBackend) -> None:
    requests = _samples()
    alone = _alone(smol8, requests)
    smol8.forget()
    together = smol8.generate_many(requests)
    total = smol8.count_tokens(TASK)
    assert [c.prompt_tokens for c in alone] == [total] * 8
    assert [c.prompt_tokens for c in together] == [total] + [0] * 7, "evaluated once, by the first sample"
    assert [c.copied_prompt_tokens for c in together] == [0] + [total] * 7
    assert [c.text for c in together] == [c.text for c in alone]
    assert len({c.text for c in together}) > 1, "seeded samples differ from each other"


def test_eight_greedy_prompts_with_one_start_decode_in_one_batch_as_each_alone(smol8: LlamaBatchBackend) -> None:
    requests = [GenerationRequest(messages=(ChatMessage(role="user", content=START + ask),),
                                  sampling=SamplingSettings(temperature=0.0, max_tokens=32)) for ask in ASKS]
    alone = _alone(smol8, requests)
    smol8.forget()
    calls = smol8.decode_calls
    together = smol8.generate_many(requests)
    assert [c.text for c in together] == [c.text for c in alone]
    start = smol8.count_tokens((ChatMessage(role="user", content=START),)) - 8  # the template's end is not shared
    assert all(c.copied_prompt_tokens >= start for c in together[1:]), [c.copied_prompt_tokens for c in together]
    assert sum(c.prompt_tokens for c in together) < sum(c.prompt_tokens for c in alone) - 7 * start
    assert smol8.decode_calls - calls <= max(c.completion_tokens for c in together) + 3, "one decode a step for all eight"


def test_a_twin_whose_leader_is_cancelled_before_reading_reads_the_prompt_itself(smol8: LlamaBatchBackend) -> None:
    leader, twin = _samples(2)
    (alone,) = _alone(smol8, [twin])
    smol8.forget()
    stop = threading.Event()
    jobs = [SequenceJob(leader, cancel=stop), SequenceJob(twin)]
    assert smol8.admit(jobs[0]) and smol8.admit(jobs[1])
    stop.set()
    results: dict[int, Completion] = {}
    while smol8.active_sequences:
        for done in smol8.step():
            assert done.completion is not None
            results[id(done.job)] = done.completion
    assert results[id(jobs[0])].finish_reason == "cancelled"
    assert results[id(jobs[1])].text == alone.text and results[id(jobs[1])].prompt_tokens == alone.prompt_tokens


def test_a_sample_admitted_after_its_twin_read_the_prompt_reads_only_the_last_token(smol8: LlamaBatchBackend) -> None:
    first, second = _samples(2)
    smol8.forget()
    jobs = [SequenceJob(first), SequenceJob(second)]
    assert smol8.admit(jobs[0])
    smol8.step()  # the first has read the prompt and sampled; its logits row is gone with the next step
    assert smol8.admit(jobs[1])
    results: dict[int, Completion] = {}
    while smol8.active_sequences:
        for done in smol8.step():
            assert done.completion is not None
            results[id(done.job)] = done.completion
    late = results[id(jobs[1])]
    assert late.prompt_tokens + late.cached_prompt_tokens + late.copied_prompt_tokens == smol8.count_tokens(TASK)
    assert late.prompt_tokens == 1, (late.prompt_tokens, late.cached_prompt_tokens, late.copied_prompt_tokens)


def test_default_model_eight_samples_of_a_coding_prompt_read_it_once(catalog: ModelCatalog) -> None:
    """Qwen2.5-Coder-1.5B, the default council's model: tokens are counted, texts are not compared."""
    backend = _load(catalog, "qwen2.5-coder-1.5b")
    try:
        total = backend.count_tokens(TASK)
        single = backend.generate(_samples(1, max_tokens=8)[0])
        backend.forget()
        eight = backend.generate_many(_samples(8, max_tokens=8))
    finally:
        backend.close()
    assert single.prompt_tokens == total
    assert sum(c.prompt_tokens for c in eight) == total, [c.prompt_tokens for c in eight]
    assert all(c.completion_tokens > 0 for c in eight)
