"""The physical limit of decode: memory bandwidth ÷ bytes read per token.

At batch 1 a CPU decodes as fast as it can stream the weights (and the KV cache read so far)
from memory: tokens/s × bytes per token cannot exceed what the machine streams. This module
measures both sides on this machine:

- `measure_bandwidth`: STREAM-style copy and triad over arrays far larger than any cache, split
  across threads (NumPy releases the GIL in these loops), best of several repeats as STREAM does.
  Bytes are counted the STREAM way (copy 16 B per element, the two-pass triad 40 B), so
  write-allocate traffic is not counted and the figure is a floor of what the memory moves.
- `bytes_per_token`: every tensor of the model read once (`llama_model_size`; exact for models with
  tied embeddings such as Qwen2.5 and SmolLM2, an upper bound otherwise) plus the K and V rows of
  every position attended.
- `decode_vs_bandwidth`: single-sequence greedy decode through LiveMind's engine, as a fraction
  of bandwidth ÷ bytes per token, with its spread over repeats.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from livemind.bench.prompts import SINGLE_EXPERT, STORY_PROMPTS
from livemind.bench.stats import summarize
from livemind.bench.workbench import Workbench
from livemind.engine.backends.base import available_cores
from livemind.engine.backends.llama_loader import LlamaBatchLoader
from livemind.types import ChatMessage, GenerationRequest, SamplingSettings

GB = 1e9
ARRAY_MIB = 256
"""Each of the three arrays: 768 MiB in all, far beyond any L3 these machines have."""

# Bytes per element of each KV cache type (ggml block sizes: q8_0 is 34 bytes per 32, q4_0 18 per 32).
KV_BYTES_PER_ELEMENT = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q5_1": 24 / 32, "q5_0": 22 / 32,
                        "q4_1": 20 / 32, "q4_0": 18 / 32}


@dataclass(frozen=True)
class ModelShape:
    """What decode reads per token: the tensors and the attention geometry."""

    tensor_bytes: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_embd: int

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.n_embd // self.n_head


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    step = -(-n // parts)
    return [(lo, min(n, lo + step)) for lo in range(0, n, step)]


def _best_seconds(work: Any, bounds: list[tuple[int, int]], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        threads = [threading.Thread(target=work, args=bound) for bound in bounds]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        times.append(time.perf_counter() - started)
    return times


def measure_bandwidth(*, array_mib: int = ARRAY_MIB, repeats: int = 5, threads: int | None = None) -> dict[str, Any]:
    """Copy and triad GB/s on `threads` threads (default: the cores available), best and spread."""
    threads = threads or available_cores()
    n = array_mib * 2**20 // 8
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)  # written once: every page is resident before timing
    bounds = _split(n, threads)

    def copy(lo: int, hi: int) -> None:
        np.copyto(a[lo:hi], b[lo:hi])

    def triad(lo: int, hi: int) -> None:
        np.multiply(c[lo:hi], 3.0, out=a[lo:hi])
        np.add(a[lo:hi], b[lo:hi], out=a[lo:hi])

    result: dict[str, Any] = {"threads": threads, "array_mib": array_mib, "repeats": repeats}
    for name, work, bytes_per_element in (("copy", copy, 16), ("triad", triad, 40)):
        rates = [bytes_per_element * n / seconds / GB for seconds in _best_seconds(work, bounds, repeats)]
        summary = summarize(rates)
        result[name] = {"best_gb_s": round(summary.max, 2), "median_gb_s": round(summary.median, 2),
                        "min_gb_s": round(summary.min, 2)}
    result["best_gb_s"] = max(result["copy"]["best_gb_s"], result["triad"]["best_gb_s"])
    return result


def bytes_per_token(shape: ModelShape, *, positions: float, kv_type: str) -> float:
    """Bytes one decode step reads: all tensors, plus K and V of `positions` earlier tokens."""
    kv_per_position = 2 * shape.n_layer * shape.n_head_kv * shape.head_dim * KV_BYTES_PER_ELEMENT[kv_type]
    return shape.tensor_bytes + kv_per_position * positions


def decode_fraction(tok_s: float, bytes_token: float, bandwidth_gb_s: float) -> float:
    """Decode speed as a share of the bandwidth limit (1.0 = every byte streamed at the measured rate)."""
    return tok_s * bytes_token / (bandwidth_gb_s * GB)


def decode_vs_bandwidth(bench: Workbench) -> dict[str, Any]:
    """Single-sequence greedy decode of the bench's single expert against the bandwidth limit, with spread."""
    repeats = 3 if bench.options.quick else 5
    bandwidth = measure_bandwidth(repeats=repeats)
    spec = bench.spec(SINGLE_EXPERT)
    backend = LlamaBatchLoader().load(bench.target(spec))
    try:
        shape = ModelShape(**backend.model_shape())
        kv_type = backend.engine.kv_type
        request = GenerationRequest(messages=(ChatMessage(role="user", content=STORY_PROMPTS[0]),),
                                    sampling=SamplingSettings.model_validate(
                                        {"temperature": 0.0, "max_tokens": bench.options.max_tokens}))
        speeds, fractions, per_token = [], [], []
        for _ in range(repeats):
            backend.forget()
            completion = backend.generate(request)
            # Positions attended, averaged over the decode: the prompt plus half the answer.
            read = bytes_per_token(shape, positions=completion.prompt_tokens + completion.completion_tokens / 2,
                                   kv_type=kv_type)
            speeds.append(completion.decode_tok_s)
            per_token.append(read)
            fractions.append(decode_fraction(completion.decode_tok_s, read, bandwidth["best_gb_s"]))
    finally:
        backend.close()
    spread = summarize(fractions)
    return {"model": bench.target(spec).model, "kv_type": kv_type, "threads": backend.threads,
            "bandwidth": bandwidth, "shape": vars(shape), "bytes_per_token": round(summarize(per_token).median),
            "decode_tok_s": summarize(speeds).as_dict(2), "fraction": spread.as_dict(4), "ratio": round(spread.median, 4)}
