"""The bandwidth limit's arithmetic and its STREAM-style measurement (the real decode is in the quick bench)."""

from __future__ import annotations

import pytest

from livemind.bench.bandwidth import KV_BYTES_PER_ELEMENT, ModelShape, bytes_per_token, decode_fraction, measure_bandwidth

# Qwen2.5-Coder-1.5B-Instruct as llama.cpp reports it: 28 layers, 12 heads, 2 KV heads, width 1536.
QWEN_1_5B = ModelShape(tensor_bytes=1_117_320_768 - 5_000_000, n_layer=28, n_head=12, n_head_kv=2, n_embd=1536)


def test_bytes_per_token_adds_k_and_v_of_every_position_attended_to_the_tensors() -> None:
    assert QWEN_1_5B.head_dim == 128
    per_position_q8 = 2 * 28 * 2 * 128 * 34 / 32  # K and V, every layer, q8_0 blocks of 34 bytes per 32
    assert bytes_per_token(QWEN_1_5B, positions=0, kv_type="q8_0") == QWEN_1_5B.tensor_bytes
    assert bytes_per_token(QWEN_1_5B, positions=1000, kv_type="q8_0") == pytest.approx(
        QWEN_1_5B.tensor_bytes + 1000 * per_position_q8)
    f16 = bytes_per_token(QWEN_1_5B, positions=1000, kv_type="f16") - QWEN_1_5B.tensor_bytes
    assert f16 / (1000 * per_position_q8) == pytest.approx(2 / KV_BYTES_PER_ELEMENT["q8_0"])


def test_the_fraction_is_tokens_times_bytes_over_bandwidth() -> None:
    # 7.3 tok/s reading 1.15 GB per token is 8.4 GB/s: two thirds of a 12.6 GB/s machine.
    assert decode_fraction(7.3, 1.15e9, 12.6) == pytest.approx(7.3 * 1.15 / 12.6)


def test_stream_copy_and_triad_give_positive_rates_with_their_spread() -> None:
    result = measure_bandwidth(array_mib=16, repeats=3, threads=2)
    for kind in ("copy", "triad"):
        figures = result[kind]
        assert 0 < figures["min_gb_s"] <= figures["median_gb_s"] <= figures["best_gb_s"] < 10_000
    assert result["best_gb_s"] == max(result["copy"]["best_gb_s"], result["triad"]["best_gb_s"])
