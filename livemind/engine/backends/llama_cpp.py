"""The llama.cpp engine module (llama-cpp-python): the only module that imports llama_cpp.

It holds what every llama.cpp path shares (the OpenMP wait policy set before the library
loads, KV type ids, GGUF memory estimates, system info) and `LlamaCppBackend`: one sequence
through `llama_cpp.Llama`'s own high-level API. The product serves through the batch backend
(llama_batch.py); this one is what a user of plain llama-cpp-python runs, so the bench measures
LiveMind against it and the real-pool tests load it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from livemind.engine.backends.base import (
    CancelSignal,
    LoadTarget,
    MemoryEstimate,
    TokenCallback,
    apply_engine_wait_policy,
    available_cores,
)
from livemind.engine.catalog import check_gguf_header
from livemind.errors import EngineError, ModelCorruptError, ModelLoadError, ModelNotFoundError, PromptTooLongError
from livemind.types import ChatMessage, Completion, EngineSettings, FinishReason, GenerationRequest

# Must happen before libgomp loads, i.e. before llama_cpp is imported (figures in backends/base.py).
apply_engine_wait_policy(os.environ)

import llama_cpp  # noqa: E402

# llama.cpp's own log goes to the "livemind.engine" logger instead of straight to stderr, so a
# live debate in the terminal shows tokens, not load chatter. Its warnings and errors stay
# warnings and errors; info is debug. GGUFs without a context_length key make llama.cpp warn
# "n_ctx_seq (N) > n_ctx_train (0)" on every context: that one is debug too.
_ENGINE_LOG = logging.getLogger("livemind.engine")
_GGML_LEVELS = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.WARNING, 4: logging.ERROR}  # 5 continues a line
_BENIGN = ("> n_ctx_train (0)",)
_last_level = logging.DEBUG


@llama_cpp.llama_log_callback
def _engine_log(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
    global _last_level
    _last_level = _last_level if level == 5 else _GGML_LEVELS.get(level, logging.DEBUG)
    message = text.decode("utf-8", "replace").rstrip()
    if message:
        _ENGINE_LOG.log(logging.DEBUG if any(b in message for b in _BENIGN) else _last_level, "%s", message)


def route_engine_log() -> None:
    """Send llama.cpp's log to the "livemind.engine" logger, and keep it off a console nobody configured.

    Loading a model logs warnings such as "load: control-looking token ... this is probably a bug
    in the model": chatter for a user who asked a question. With no handler of its own the logger
    would fall through to Python's last-resort handler (stderr); the NullHandler stops that. An
    application that configures logging still gets every line (`livemind --verbose` does).
    """
    if not any(isinstance(h, logging.NullHandler) for h in _ENGINE_LOG.handlers):
        _ENGINE_LOG.addHandler(logging.NullHandler())
    llama_cpp.llama_log_set(_engine_log, ctypes.c_void_p(0))  # the module keeps _engine_log alive


route_engine_log()

# GGML type ids accepted by Llama(type_k=..., type_v=...).
KV_TYPE_IDS = {"f16": 1, "q8_0": 8, "q4_0": 2}
# Bytes per element: q8_0 stores 32 values in 34 bytes, q4_0 in 18.
KV_BYTES_PER_ELEMENT = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}
# Compute buffers and runtime overhead beyond weights and KV, measured on SmolLM2 and Gemma 3
# at n_ctx 2048 (tens of MiB); kept generous so the guard errs towards refusing.
COMPUTE_MARGIN_BYTES = 96 * 1024 * 1024
COMPUTE_MARGIN_PER_CTX_TOKEN = 16 * 1024


def system_info() -> str:
    """The loaded engine's own statement of its SIMD paths (llama_print_system_info)."""
    raw = llama_cpp.llama_print_system_info()
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def engine_version() -> str:
    """The llama-cpp-python version in use."""
    return str(llama_cpp.__version__)


def _metadata_int(meta: dict[str, str], key: str, default: int = 0) -> int:
    value = meta.get(key)
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


class LlamaCppLoader:
    """Estimates memory from GGUF metadata and loads models with llama.cpp."""

    def __init__(self) -> None:
        self._metadata_cache: dict[tuple[str, int, float], dict[str, str]] = {}

    def _check_file(self, target: LoadTarget) -> Path:
        if target.path is None:
            raise ModelLoadError(f"'{target.model}' has no local file", hint="configure a .gguf path or a catalog model")
        if not target.path.is_file():
            raise ModelNotFoundError(f"model file missing: {target.path}", hint="run `livemind models pull` or fix the path")
        check_gguf_header(target.path)
        return target.path

    def metadata(self, target: LoadTarget) -> dict[str, str]:
        """GGUF key/values, read with a vocab-only load (no weights)."""
        path = self._check_file(target)
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime)
        if key not in self._metadata_cache:
            try:
                probe = self._vocab_probe(target)
            except (ValueError, RuntimeError) as exc:
                raise ModelCorruptError(
                    f"cannot read model metadata from {path}: {exc}",
                    hint="the file is corrupt or not a llama.cpp GGUF; re-download it (`livemind models pull --force`)",
                ) from exc
            self._metadata_cache[key] = dict(probe.metadata)
            self._probed(key, probe)
        return self._metadata_cache[key]

    def _vocab_probe(self, target: LoadTarget) -> llama_cpp.Llama:
        """A vocab-only load of the file (no weights): its metadata, tokenizer and chat template."""
        return llama_cpp.Llama(model_path=str(target.path), vocab_only=True, verbose=False)

    def _probed(self, key: tuple[str, int, float], probe: llama_cpp.Llama) -> None:
        """What to do with a probe once its metadata is read: free it (a subclass may keep it)."""
        probe.close()

    def estimate(self, target: LoadTarget) -> MemoryEstimate:
        """Weights (file size, mmap'd and fully touched) + KV cache + compute margin."""
        meta = self.metadata(target)
        assert target.path is not None
        arch = meta.get("general.architecture", "llama")
        n_layer = _metadata_int(meta, f"{arch}.block_count", 32)
        n_embd = _metadata_int(meta, f"{arch}.embedding_length", 4096)
        n_head = _metadata_int(meta, f"{arch}.attention.head_count", 32) or 1
        n_head_kv = _metadata_int(meta, f"{arch}.attention.head_count_kv", n_head) or n_head
        head_k = _metadata_int(meta, f"{arch}.attention.key_length", n_embd // n_head)
        head_v = _metadata_int(meta, f"{arch}.attention.value_length", n_embd // n_head)
        engine = target.engine
        elements = engine.n_ctx * n_layer * n_head_kv * (head_k + head_v)
        kv = int(elements * KV_BYTES_PER_ELEMENT[engine.kv_type])
        compute = COMPUTE_MARGIN_BYTES + COMPUTE_MARGIN_PER_CTX_TOKEN * engine.n_ctx
        return MemoryEstimate(weights=target.path.stat().st_size, kv_cache=kv, compute=compute)

    def load(self, target: LoadTarget) -> LlamaCppBackend:
        """Load a model; corrupt or truncated files raise ModelCorruptError."""
        self.metadata(target)
        assert target.path is not None
        engine = target.engine
        threads = engine.n_threads or available_cores()
        try:
            llm = llama_cpp.Llama(
                model_path=str(target.path),
                n_ctx=engine.n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                n_batch=engine.n_batch,
                n_ubatch=engine.n_ubatch,
                flash_attn=engine.flash_attn,
                type_k=KV_TYPE_IDS[engine.kv_type],
                type_v=KV_TYPE_IDS[engine.kv_type],
                chat_format=target.chat_format,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelCorruptError(
                f"llama.cpp could not load {target.path}: {exc}",
                hint="the file is truncated or corrupt; re-download it (`livemind models pull --force`)",
            ) from exc
        return LlamaCppBackend(llm, target)


class LlamaCppBackend:
    """One loaded llama.cpp model. Callers serialise access (the pool holds one lock per model)."""

    def __init__(self, llm: llama_cpp.Llama, target: LoadTarget) -> None:
        self._llm = llm
        self.target = target

    @property
    def n_ctx(self) -> int:
        """The context window in tokens."""
        return int(self._llm.n_ctx())

    @property
    def engine(self) -> EngineSettings:
        """The settings this model was loaded with."""
        return self.target.engine

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Prompt tokens of the messages plus a few per message for the chat template."""
        text = "\n".join(m.content for m in messages)
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)) + 6 * len(messages)

    def forget(self) -> None:
        """Drop the kept prompt, so a repeated prompt is read again (llama-cpp-python reuses a matching prefix)."""
        self._llm.reset()

    def _tokens_of(self, text: str) -> int:
        if not text:
            return 0
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def generate(
        self,
        request: GenerationRequest,
        *,
        on_token: TokenCallback | None = None,
        cancel: CancelSignal | None = None,
    ) -> Completion:
        """Stream one chat completion, checking `cancel` before each token."""
        prompt_tokens = self.count_tokens(request.messages)
        if prompt_tokens + 1 > self.n_ctx:
            raise PromptTooLongError(tokens=prompt_tokens, limit=self.n_ctx - 1)
        s = request.sampling
        max_tokens = min(s.max_tokens, self.n_ctx - prompt_tokens)
        start = time.perf_counter()
        pieces: list[str] = []
        stream: Iterator[Any] | None = None
        try:
            stream = cast(Iterator[Any], self._llm.create_chat_completion(
                messages=cast(Any, [{"role": m.role, "content": m.content} for m in request.messages]),
                temperature=s.temperature,
                top_p=s.top_p,
                top_k=s.top_k,
                repeat_penalty=s.repeat_penalty,
                max_tokens=max_tokens,
                seed=s.seed,
                stream=True,
            ))
            first, finish = _consume(stream, pieces, on_token, cancel)
        except ValueError as exc:
            if "exceed context window" in str(exc):
                raise PromptTooLongError(tokens=prompt_tokens, limit=self.n_ctx) from exc
            raise EngineError(f"llama.cpp failed while generating: {exc}", hint="see `livemind doctor`") from exc
        finally:
            if stream is not None and hasattr(stream, "close"):
                stream.close()  # stops decoding at once when we broke out early
        end = time.perf_counter()
        text = "".join(pieces)
        completion_tokens = self._tokens_of(text)
        ttft = (first or end) - start
        decode_s = end - (first or end)
        rate = (completion_tokens - 1) / decode_s if completion_tokens > 1 and decode_s > 0 else 0.0
        evaluated = int(self._llm.n_tokens) - completion_tokens
        return Completion(
            text=text.strip(),
            prompt_tokens=evaluated if evaluated > 0 else prompt_tokens,
            completion_tokens=completion_tokens,
            ttft_s=ttft,
            total_s=end - start,
            decode_tok_s=rate,
            finish_reason=finish,
        )

    def close(self) -> None:
        """Free the model and its context."""
        self._llm.close()


def _consume(
    stream: Iterator[Any], pieces: list[str], on_token: TokenCallback | None, cancel: CancelSignal | None
) -> tuple[float | None, FinishReason]:
    """Read chat-completion chunks into `pieces` until the end or `cancel`; return (first token time, finish reason)."""
    first: float | None = None
    finish: FinishReason = "stop"
    for chunk in stream:
        if cancel is not None and cancel.is_set():
            finish = "cancelled"
            break
        choice = chunk["choices"][0]
        piece = choice.get("delta", {}).get("content") or ""
        if piece:
            if first is None:
                first = time.perf_counter()
            pieces.append(piece)
            if on_token is not None:
                on_token(piece)
        if choice.get("finish_reason"):
            finish = "length" if choice["finish_reason"] == "length" else "stop"
    return first, finish
