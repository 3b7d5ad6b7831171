"""The multi-sequence llama.cpp backend on real models: batching, KV reuse, streaming, cancellation, limits.

Measured degree of agreement (SmolLM2-135M Q4_1, q8_0 KV, flash attention, AVX2): greedy and
seeded sampling give the same text decoding alone, in a batch of three, and through
llama-cpp-python's own create_chat_completion. The tests hold that to exact equality.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import llama_cpp
import pytest

from livemind.engine.backends.base import LoadTarget, SequenceJob
from livemind.engine.backends.llama_batch import LlamaBatchBackend
from livemind.engine.backends.llama_cpp import KV_TYPE_IDS, LlamaCppLoader
from livemind.engine.backends.llama_loader import LlamaBatchLoader
from livemind.engine.backends.llama_tokens import TokenReader
from livemind.engine.catalog import ModelCatalog
from livemind.errors import PromptTooLongError
from livemind.types import ChatMessage, EngineSettings, GenerationRequest, SamplingSettings

pytestmark = pytest.mark.slow
PERSONA = "You are a careful generalist. Answer plainly and briefly."
QUESTIONS = ("What is the capital of France?", "Explain how vaccines work.", "Write a Python function that reverses a list.")


def _target(catalog: ModelCatalog, name: str = "smollm2-135m", **engine: object) -> LoadTarget:
    resolved = catalog.resolve(name)
    return LoadTarget(model=name, path=resolved.path, engine=EngineSettings(**engine), chat_format=resolved.chat_format)


@pytest.fixture(scope="module")
def smol(catalog: ModelCatalog) -> Iterator[LlamaBatchBackend]:
    backend = LlamaBatchLoader().load(_target(catalog))
    yield backend
    backend.close()


def _messages(question: str) -> tuple[ChatMessage, ...]:
    return (ChatMessage(role="system", content=PERSONA), ChatMessage(role="user", content=question))


def _request(question: str, *, conversation: str | None = None, **sampling: object) -> GenerationRequest:
    settings = {"temperature": 0.0, "max_tokens": 32, **sampling}
    return GenerationRequest(messages=_messages(question), sampling=SamplingSettings(**settings),  # type: ignore[arg-type]
                             conversation=conversation)


@pytest.mark.parametrize("sampling", [{"temperature": 0.0}, {"temperature": 0.8, "seed": 42}], ids=["greedy", "seeded"])
def test_a_batch_of_three_decodes_the_same_text_as_each_sequence_alone(smol: LlamaBatchBackend,
                                                                         sampling: dict[str, object]) -> None:
    alone = []
    for question in QUESTIONS:
        smol.forget()
        alone.append(smol.generate(_request(question, **sampling)).text)
    smol.forget()
    decode_calls = smol.decode_calls
    together = smol.generate_many([_request(q, **sampling) for q in QUESTIONS])
    assert [c.text for c in together] == alone
    assert smol.decode_calls - decode_calls <= max(c.completion_tokens for c in together) + 1, \
        "one decode per step for all three sequences, not one per sequence"


def test_seeded_answers_match_llama_cpp_python_create_chat_completion(smol: LlamaBatchBackend,
                                                                       catalog: ModelCatalog) -> None:
    target = _target(catalog)
    engine = target.engine
    llm = llama_cpp.Llama(model_path=str(target.path), n_ctx=engine.n_ctx, n_batch=engine.n_batch,
                          n_ubatch=engine.n_ubatch, flash_attn=True, type_k=KV_TYPE_IDS["q8_0"],
                          type_v=KV_TYPE_IDS["q8_0"], verbose=False)
    try:
        for question, seed in zip(QUESTIONS, (7, 8, 9), strict=True):
            request = _request(question, temperature=0.7, seed=seed, top_p=0.9, top_k=40, repeat_penalty=1.1)
            s = request.sampling
            raw = llm.create_chat_completion(messages=[{"role": m.role, "content": m.content} for m in request.messages],
                                             temperature=s.temperature, top_p=s.top_p, top_k=s.top_k,
                                             repeat_penalty=s.repeat_penalty, max_tokens=s.max_tokens, seed=s.seed)
            smol.forget()
            assert smol.generate(request).text == raw["choices"][0]["message"]["content"].strip()  # type: ignore[index]
    finally:
        llm.close()


@pytest.mark.parametrize("sampling", [{"temperature": 0.0}, {"temperature": 0.7, "seed": 8}], ids=["greedy", "seeded"])
def test_each_replys_mean_logprob_is_the_one_llama_cpp_python_reports_for_its_tokens(
        smol: LlamaBatchBackend, catalog: ModelCatalog, sampling: dict[str, object]) -> None:
    """The confidence is the raw distribution's log-prob of each sampled token, read from the row it was sampled from."""
    engine = _target(catalog).engine
    llm = llama_cpp.Llama(model_path=str(_target(catalog).path), n_ctx=engine.n_ctx, n_batch=engine.n_batch,
                          n_ubatch=engine.n_ubatch, flash_attn=True, type_k=KV_TYPE_IDS["q8_0"],
                          type_v=KV_TYPE_IDS["q8_0"], logits_all=True, verbose=False)  # logits_all: its logprobs need it
    try:
        for question in QUESTIONS[:2]:
            request = _request(question, **sampling)
            s = request.sampling
            raw = llm.create_chat_completion(messages=[{"role": m.role, "content": m.content} for m in request.messages],
                                             temperature=s.temperature, top_p=s.top_p, top_k=s.top_k,
                                             repeat_penalty=s.repeat_penalty, max_tokens=s.max_tokens, seed=s.seed,
                                             logprobs=True, top_logprobs=1)
            choice = raw["choices"][0]  # type: ignore[index]
            reference = [t["logprob"] for t in choice["logprobs"]["content"]]
            smol.forget()
            completion = smol.generate(request)
            assert completion.text == choice["message"]["content"].strip()
            assert completion.mean_logprob is not None and math.isfinite(completion.mean_logprob)
            assert completion.mean_logprob <= 0.0
            assert completion.logprob_tokens == completion.completion_tokens == len(reference)
            assert completion.mean_logprob == pytest.approx(sum(reference) / len(reference), abs=1e-3)
    finally:
        llm.close()


def test_reading_the_confidence_changes_no_text_and_a_batch_reads_the_same_confidence_as_alone(
        smol: LlamaBatchBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    requests = [_request(q, **sampling) for q in QUESTIONS[:2]
                for sampling in ({"temperature": 0.0}, {"temperature": 0.8, "seed": 5})]  # four: every sequence
    alone = []
    for request in requests:
        smol.forget()
        alone.append(smol.generate(request))
    smol.forget()
    together = smol.generate_many(requests)
    assert [c.text for c in together] == [c.text for c in alone]
    assert [c.mean_logprob for c in together] == pytest.approx([c.mean_logprob for c in alone], abs=1e-3)
    smol.forget()
    again = smol.generate_many(requests)
    assert [c.mean_logprob for c in again] == [c.mean_logprob for c in together], "the same decode, the same figure"
    monkeypatch.setattr(TokenReader, "_logprob", lambda self, row, token: 0.0)  # the engine without the capture
    smol.forget()
    blind = smol.generate_many(requests)
    assert [c.text for c in blind] == [c.text for c in together]
    assert all(c.mean_logprob == 0.0 for c in blind) and all(c.mean_logprob < 0.0 for c in together)


def _round_two(first_answer: str) -> tuple[ChatMessage, ...]:
    return (*_messages(QUESTIONS[1]), ChatMessage(role="assistant", content=first_answer),
            ChatMessage(role="user", content="Another expert said vaccines only work for children. Revise your answer."))


def test_round_two_reads_only_the_new_turn_and_answers_as_a_full_reread_does(smol: LlamaBatchBackend) -> None:
    smol.forget()
    first = smol.generate(_request(QUESTIONS[1], conversation="s:generalist"))
    follow_up = GenerationRequest(messages=_round_two(first.text), sampling=SamplingSettings(temperature=0.0, max_tokens=32),
                                  conversation="s:generalist")
    reused = smol.generate(follow_up)
    full = smol.count_tokens(follow_up.messages)
    assert reused.cached_prompt_tokens >= first.prompt_tokens, "the whole first prompt came from the KV cache"
    assert reused.prompt_tokens + reused.cached_prompt_tokens == full
    assert reused.prompt_tokens < full - first.prompt_tokens
    smol.forget()
    reread = smol.generate(follow_up)
    assert reread.cached_prompt_tokens == 0 and reread.prompt_tokens == full
    assert reused.text == reread.text


def test_a_conversation_keeps_its_own_sequence_while_others_come_and_go(smol: LlamaBatchBackend) -> None:
    smol.forget()
    first = smol.generate(_request(QUESTIONS[1], conversation="s:generalist"))
    smol.generate_many([_request(q, conversation=f"other:{i}") for i, q in enumerate((QUESTIONS[0], QUESTIONS[2]))])
    again = smol.generate(GenerationRequest(messages=_round_two(first.text), sampling=SamplingSettings(temperature=0.0),
                                            conversation="s:generalist"))
    assert again.cached_prompt_tokens >= first.prompt_tokens


def test_a_repeated_prompt_finds_its_prefix_in_a_free_sequence_without_taking_a_conversations(
        smol: LlamaBatchBackend) -> None:
    smol.forget()
    kept = smol.generate(_request(QUESTIONS[1], conversation="s:generalist"))
    first = smol.generate(_request(QUESTIONS[0]))
    again = smol.generate(_request(QUESTIONS[0]))
    held = first.prompt_tokens + first.cached_prompt_tokens + first.copied_prompt_tokens
    assert first.cached_prompt_tokens < again.cached_prompt_tokens == held - 1, (first, again)
    assert again.text == first.text
    follow = smol.generate(GenerationRequest(messages=_round_two(kept.text), sampling=SamplingSettings(temperature=0.0),
                                             conversation="s:generalist"))
    assert follow.cached_prompt_tokens >= kept.prompt_tokens, "the conversation's sequence was left alone"


def test_each_sequence_streams_its_own_pieces(smol: LlamaBatchBackend) -> None:
    smol.forget()
    pieces: dict[int, list[str]] = {0: [], 1: [], 2: []}
    done = smol.generate_many([_request(q) for q in QUESTIONS], on_token=lambda i, piece: pieces[i].append(piece))
    for i, completion in enumerate(done):
        assert len(pieces[i]) > 3, "pieces arrive token by token"
        assert "".join(pieces[i]).strip() == completion.text


def test_cancelling_one_sequence_leaves_the_others_decoding(smol: LlamaBatchBackend) -> None:
    smol.forget()
    cancel = threading.Event()
    seen: list[str] = []

    def stop_after_two(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 2:
            cancel.set()

    jobs = [SequenceJob(_request("Write a long story about a dragon.", max_tokens=64), stop_after_two, cancel),
            SequenceJob(_request(QUESTIONS[1], max_tokens=24))]
    assert all(smol.admit(job) for job in jobs)
    results = {}
    while smol.active_sequences:
        for result in smol.step():
            results[id(result.job)] = result.completion
    cancelled, other = results[id(jobs[0])], results[id(jobs[1])]
    assert cancelled is not None and other is not None
    assert cancelled.finish_reason == "cancelled" and cancelled.completion_tokens <= 3
    assert other.finish_reason in ("stop", "length") and other.completion_tokens > 3


def test_a_prompt_over_the_context_window_is_refused_with_the_numbers(catalog: ModelCatalog) -> None:
    backend = LlamaBatchLoader().load(_target(catalog, n_ctx=256, n_batch=128, n_ubatch=128, n_seq_max=2))
    try:
        with pytest.raises(PromptTooLongError) as info:
            backend.generate(_request("word " * 400))
        assert info.value.limit == 255 and info.value.tokens > 256
        assert backend.generate(_request(QUESTIONS[0], max_tokens=4)).completion_tokens > 0, "the backend still serves"
    finally:
        backend.close()


def test_gemma_sliding_window_model_batches_and_reuses_its_conversation(catalog: ModelCatalog) -> None:
    backend = LlamaBatchLoader().load(_target(catalog, "gemma3-270m", n_seq_max=2))
    try:
        first = backend.generate(_request("The capital of France is", conversation="g:1", max_tokens=12))
        assert first.completion_tokens > 0
        follow = GenerationRequest(messages=(*_messages("The capital of France is"),
                                             ChatMessage(role="assistant", content=first.text),
                                             ChatMessage(role="user", content="And of Italy?")),
                                   sampling=SamplingSettings(temperature=0.0, max_tokens=12), conversation="g:1")
        reused = backend.generate(follow)
        backend.forget()
        assert backend.generate(follow).text == reused.text
    finally:
        backend.close()


def test_estimate_counts_a_kv_cache_for_every_sequence(catalog: ModelCatalog) -> None:
    one = LlamaBatchLoader().estimate(_target(catalog, n_seq_max=1))
    four = LlamaBatchLoader().estimate(_target(catalog, n_seq_max=4))
    single = LlamaCppLoader().estimate(_target(catalog, n_seq_max=1))
    assert four.kv_cache == 4 * one.kv_cache == 4 * single.kv_cache
    assert four.weights == one.weights


def test_q8_kv_holds_the_same_conversation_in_about_half_the_bytes_of_f16(catalog: ModelCatalog) -> None:
    sizes = {}
    for kv in ("f16", "q8_0"):
        backend = LlamaBatchLoader().load(_target(catalog, kv_type=kv, n_seq_max=1))
        try:
            backend.generate(_request(QUESTIONS[1], max_tokens=8))
            sizes[kv] = backend.kv_state_bytes()
        finally:
            backend.close()
    assert 0.5 < sizes["q8_0"] / sizes["f16"] < 0.56


def test_the_vocab_is_read_once_for_the_estimate_and_the_load(catalog: ModelCatalog,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from livemind.engine.backends.llama_cpp import llama_cpp

    made: list[str] = []
    original = llama_cpp.Llama.__init__

    def counting(self: object, *args: object, **kwargs: object) -> None:
        if kwargs.get("vocab_only"):
            made.append(str(kwargs.get("model_path")))
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(llama_cpp.Llama, "__init__", counting)
    loader = LlamaBatchLoader()
    target = _target(catalog)
    loader.estimate(target)
    backend = loader.load(target)
    try:
        assert len(made) == 1, f"one vocab-only read serves the estimate and the chat template: {made}"
        assert backend.count_tokens((ChatMessage(role="user", content="hi"),)) > 0
    finally:
        backend.close()
