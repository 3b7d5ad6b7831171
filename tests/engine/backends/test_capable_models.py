"""The capable models of the default council, loaded for real: template, greedy answers, the extractor.

Qwen2.5-Coder-1.5B is large enough that its greedy answer to a plain multiplication does not
change with the SIMD build, so its answer is checked; the 0.5B model is checked for shape and
same-machine determinism only (NOTES: never require a small model's greedy answer to be right).
"""

from __future__ import annotations

from collections.abc import Iterator

import psutil
import pytest

from livemind.council.extraction import extract_answer
from livemind.engine.backends.base import LoadTarget
from livemind.engine.backends.llama_batch import LlamaBatchBackend
from livemind.engine.backends.llama_loader import LlamaBatchLoader
from livemind.engine.catalog import ModelCatalog
from livemind.types import ChatMessage, EngineSettings, GenerationRequest, SamplingSettings

pytestmark = pytest.mark.slow

QUESTION = "What is 7 * 8 + 5? Reply with just the number."
TEMPLATE_MARKERS = ("<|im_start|>", "<|im_end|>")


def _load(catalog: ModelCatalog, name: str) -> LlamaBatchBackend:
    resolved = catalog.resolve(name)
    target = LoadTarget(model=name, path=resolved.path, engine=EngineSettings(n_ctx=1024, n_seq_max=2),
                        chat_format=resolved.chat_format)
    loader = LlamaBatchLoader()
    needed = loader.estimate(target).total
    available = psutil.virtual_memory().available
    if needed > 0.8 * available:
        pytest.skip(f"{name} needs about {needed / 2**20:.0f} MiB and only {available / 2**20:.0f} MiB is free")
    meta = loader.metadata(target)
    assert "im_start" in meta.get("tokenizer.chat_template", ""), f"{name} ships its ChatML template"
    return loader.load(target)


@pytest.fixture(scope="module")
def qwen15(catalog: ModelCatalog) -> Iterator[LlamaBatchBackend]:
    backend = _load(catalog, "qwen2.5-coder-1.5b")
    yield backend
    backend.close()


def _greedy(question: str, max_tokens: int = 200) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage(role="user", content=question),),
                             sampling=SamplingSettings(temperature=0.0, max_tokens=max_tokens))


def test_qwen_1_5b_verifies_and_answers_a_fixed_multiplication(catalog: ModelCatalog,
                                                                qwen15: LlamaBatchBackend) -> None:
    assert catalog.verify("qwen2.5-coder-1.5b").stat().st_size == 1_117_320_768
    completion = qwen15.generate(_greedy(QUESTION, 16))
    assert not any(marker in completion.text for marker in TEMPLATE_MARKERS), "the chat template is applied, not echoed"
    assert extract_answer(completion.text).value == 61 or completion.text.strip() == "61", completion.text
    assert completion.finish_reason == "stop" and completion.decode_tok_s > 0


def test_qwen_1_5b_batched_personas_give_the_same_greedy_text_as_one_at_a_time(qwen15: LlamaBatchBackend) -> None:
    requests = [_greedy(f"In one sentence: what is {topic}?", 40) for topic in ("a compiler", "a prime number")]
    alone = [qwen15.generate(r).text for r in requests]
    together = [c.text for c in qwen15.generate_many(requests)]
    assert together == alone


def test_qwen_0_5b_loads_with_its_template_and_answers_deterministically(catalog: ModelCatalog) -> None:
    assert catalog.verify("qwen2.5-coder-0.5b").stat().st_size == 491_400_064
    backend = _load(catalog, "qwen2.5-coder-0.5b")
    try:
        first = backend.generate(_greedy(QUESTION, 16))
        second = backend.generate(_greedy(QUESTION, 16))
    finally:
        backend.close()
    assert first.text.strip() and first.text == second.text
    assert not any(marker in first.text for marker in TEMPLATE_MARKERS)
