"""The llama.cpp backend on real GGUF models: answers, streaming, cancellation, seeds, limits."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from livemind.engine.backends.base import LoadTarget
from livemind.engine.backends.llama_cpp import LlamaCppBackend, LlamaCppLoader, system_info
from livemind.engine.catalog import ModelCatalog
from livemind.errors import ModelCorruptError, PromptTooLongError
from livemind.types import ChatMessage, EngineSettings, GenerationRequest, SamplingSettings

pytestmark = pytest.mark.slow


def _target(catalog: ModelCatalog, name: str, **engine: object) -> LoadTarget:
    resolved = catalog.resolve(name)
    return LoadTarget(model=name, path=resolved.path, engine=EngineSettings(**engine), chat_format=resolved.chat_format)


@pytest.fixture(scope="module")
def smol(catalog: ModelCatalog) -> LlamaCppBackend:
    backend = LlamaCppLoader().load(_target(catalog, "smollm2-135m"))
    yield backend
    backend.close()


def _ask(question: str, **sampling: object) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage(role="user", content=question),),
                             sampling=SamplingSettings(**sampling))


def test_smollm2_greedy_answer_is_deterministic_with_counts_and_timings(smol: LlamaCppBackend) -> None:
    # Not "says Paris": the tiny model's greedy text changes with the SIMD build (see NOTES).
    request = _ask("What is the capital of France? Answer in one word.", temperature=0.0, max_tokens=16)
    completion = smol.generate(request)
    again = smol.generate(request)
    assert completion.text.strip() and completion.text == again.text
    assert completion.completion_tokens > 0 and completion.prompt_tokens > 5
    assert completion.ttft_s > 0 and completion.decode_tok_s > 0


def test_tokens_stream_before_the_answer_is_complete(smol: LlamaCppBackend) -> None:
    seen: list[str] = []
    completion = smol.generate(_ask("Count from one to ten in words.", temperature=0.0, max_tokens=40),
                               on_token=seen.append)
    assert len(seen) >= 5, "tokens arrive one by one, not as one block"
    assert "".join(seen).strip() == completion.text


def test_cancellation_stops_generation_between_tokens(smol: LlamaCppBackend) -> None:
    cancel = threading.Event()
    seen: list[str] = []

    def on_token(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 3:
            cancel.set()

    completion = smol.generate(_ask("Write a long story about a dragon.", max_tokens=200), on_token=on_token, cancel=cancel)
    assert completion.finish_reason == "cancelled"
    assert len(seen) <= 4
    assert completion.completion_tokens <= 5


def test_same_seed_gives_the_same_sampled_answer(smol: LlamaCppBackend) -> None:
    request = _ask("Name three fruits.", temperature=0.9, max_tokens=24, seed=1234)
    assert smol.generate(request).text == smol.generate(request).text


def test_prompt_over_the_context_window_is_refused_with_the_numbers(catalog: ModelCatalog) -> None:
    backend = LlamaCppLoader().load(_target(catalog, "smollm2-135m", n_ctx=256, n_batch=128, n_ubatch=128))
    try:
        with pytest.raises(PromptTooLongError) as info:
            backend.generate(_ask("word " * 400))
        assert info.value.limit < 256 and info.value.tokens > 256
    finally:
        backend.close()


def test_gemma_base_model_generates_with_explicit_chat_format(catalog: ModelCatalog) -> None:
    backend = LlamaCppLoader().load(_target(catalog, "gemma3-270m"))
    try:
        completion = backend.generate(_ask("The capital of France is", temperature=0.0, max_tokens=12))
        assert completion.completion_tokens > 0
    finally:
        backend.close()


def test_estimate_counts_weights_and_halves_kv_with_q8(catalog: ModelCatalog) -> None:
    loader = LlamaCppLoader()
    f16 = loader.estimate(_target(catalog, "smollm2-135m", kv_type="f16", flash_attn=False))
    q8 = loader.estimate(_target(catalog, "smollm2-135m", kv_type="q8_0"))
    assert f16.weights == q8.weights == catalog.resolve("smollm2-135m").path.stat().st_size
    assert 0.5 < q8.kv_cache / f16.kv_cache < 0.55


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_or_truncated_gguf_gives_a_clear_error(tmp_path: Path, catalog: ModelCatalog, damage: str) -> None:
    source = catalog.resolve("smollm2-135m").path
    bad = tmp_path / "bad.gguf"
    if damage == "truncated":
        with source.open("rb") as src, bad.open("wb") as dst:
            dst.write(src.read(source.stat().st_size // 3))
    else:
        bad.write_bytes(b"NOTAGGUF" + b"\0" * 4096)
    target = LoadTarget(model="bad", path=bad, engine=EngineSettings())
    with pytest.raises(ModelCorruptError) as info:
        LlamaCppLoader().load(target)
    assert str(bad) in str(info.value)
    assert "re-download" in info.value.hint or "GGUF" in str(info.value)


def test_engine_reports_the_simd_paths_it_was_built_with() -> None:
    info = system_info()
    assert "AVX2 = 1" in info or "NEON = 1" in info


def test_engine_log_goes_to_python_logging_with_its_levels(tmp_path: Path, catalog: ModelCatalog,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    source = catalog.resolve("smollm2-135m").path
    bad = tmp_path / "truncated.gguf"
    with source.open("rb") as src, bad.open("wb") as dst:
        dst.write(src.read(source.stat().st_size // 3))
    with caplog.at_level(logging.DEBUG, logger="livemind.engine"):
        with pytest.raises(ModelCorruptError):
            LlamaCppLoader().load(LoadTarget(model="bad", path=bad, engine=EngineSettings()))
        backend = LlamaCppLoader().load(_target(catalog, "smollm2-135m"))
        backend.close()
    engine = [r for r in caplog.records if r.name == "livemind.engine"]
    errors = [r.getMessage() for r in engine if r.levelno >= logging.ERROR]
    assert errors, "llama.cpp's load error reaches the logger as an error"
    assert any("n_ctx_train (0)" in r.getMessage() and r.levelno == logging.DEBUG for r in engine), \
        "the known-benign context warning is demoted to debug"
    assert any("load" in r.getMessage() and r.levelno == logging.DEBUG for r in engine), "load chatter is debug"
