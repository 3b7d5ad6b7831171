"""The bench report from a bench document: JSON, Markdown with targets, plots, and null figures explained."""

from __future__ import annotations

import json
from pathlib import Path

from livemind.bench import KEYS, write_report

SUMMARY = {"n": 2, "mean": 1.0, "median": 1.0, "stdev": 0.1, "min": 0.9, "max": 1.1}


def _doc() -> dict[str, object]:
    config = {"engine": "kv q8_0", "latency_s": SUMMARY, "latencies_s": [0.9, 1.1]}
    factor = {"factor": "batched personas", "what": "one batch", "faster": "b", "slower": "s", "speedup": SUMMARY}
    doc: dict[str, object] = {
        "quick": True, "started_at": 0.0, "duration_s": 42.0,
        "machine": {"cpu": "test cpu", "cores_available": 2, "ram_gib": 8.0, "llama_cpp_python": "0.3.36",
                    "load_average_at_start": [0.5, 0.5, 0.5], "load_average_at_end": [0.6, 0.5, 0.5]},
        "options": {"runs": 2, "max_tokens": 24, "prompts": 1},
        "sections": {
            "attribution": {"baseline": "warm plain llama-cpp-python", "runs": 2, "reduction": 0.4,
                            "configs": {"plain": config, "livemind_batched": config}, "factors": [factor],
                            "naive": {**factor, "factor": "warm pool"}, "product_of_factors": 1.0,
                            "end_to_end_speedup": SUMMARY},
            "consensus": {"batched_s": SUMMARY, "sequential_s": SUMMARY, "ratio": 0.6, "batched_tok_s": 30.0,
                          "sequential_tok_s": 20.0, "widest_batch": 3, "identical_texts": 6, "answers": 6},
            "debate_tokens": {"private_with_reuse": {"prompt_tokens_per_round": [160, 130], "wall_s": 3.0},
                              "private_without_reuse": {"prompt_tokens_per_round": [160, 260], "wall_s": 4.0},
                              "shared_with_reuse": {"prompt_tokens_per_round": [160, 90], "wall_s": 2.5},
                              "shared_without_reuse": {"prompt_tokens_per_round": [170, 280], "wall_s": 4.2},
                              "round2_ratio_private": 0.5, "round2_ratio_shared": 0.3214,
                              "same_answers_private": True, "same_answers_shared": False},
        },
        "section_seconds": {"consensus": 3.0}, "errors": {},
        "targets": {k: {"target": "<= 1", "met": True} for k in KEYS},
        "null_reasons": {"http_ttft_vs_peer": "livemind serve could not be started"},
    }
    doc.update({k: 0.5 for k in KEYS})
    doc["http_ttft_vs_peer"] = None
    return doc


def test_report_writes_json_markdown_and_the_plots_it_has_data_for(tmp_path: Path) -> None:
    paths = write_report(_doc(), tmp_path)
    assert {p.name for p in paths} == {"bench.json", "report.md", "latency.png", "batching.png", "round_tokens.png"}
    assert json.loads((tmp_path / "bench.json").read_text())["consensus_batched_vs_sequential"] == 0.5
    report = (tmp_path / "report.md").read_text()
    assert "null (livemind serve could not be started)" in report, "a missing figure says why"
    assert "| round 1 | round 2 |" in report.replace("|---", "")
    assert "| shared | kept, copied | 160 | 90 | 2.5 s |" in report
    assert "Round 2 ratio: private 0.500, shared 0.321" in report
    assert "test cpu, 2 cores" in report
    assert "| batched personas | one batch | 1.000 | 0.900 | 1.100 |" in report, "each factor with its range"
