"""`livemind models optimize`: requantizing through llama.cpp, the optimized reference, and the before/after figures."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from livemind.bench.repack import compare
from livemind.config import parse_config
from livemind.engine.catalog import ModelCatalog
from livemind.engine.optimize import optimize_model
from livemind.errors import ConfigError, LiveMindError, ModelCorruptError, ModelNotFoundError

SOURCE = "smollm2-135m"


@pytest.fixture
def private_home(tmp_path: Path, catalog: ModelCatalog) -> Path:
    """A home whose model files point at the real ones, with its own `optimized/` folder."""
    root = tmp_path / "home"
    (root / "models").mkdir(parents=True)
    for info in catalog.list():
        (root / "models" / info.path.name).symlink_to(info.path, target_is_directory=info.path.is_dir())
    return root


@pytest.fixture
def private(private_home: Path) -> ModelCatalog:
    return ModelCatalog(private_home)


def test_optimize_writes_a_q4_0_copy_with_progress_and_reuses_it(private: ModelCatalog) -> None:
    seen: list[tuple[int, int]] = []
    result = optimize_model(private, SOURCE, "q4_0", progress=lambda _step, done, total: seen.append((done, total)))
    assert not result.reused and result.output.is_file()
    assert result.output.read_bytes()[:4] == b"GGUF"
    assert seen and seen[-1][0] == seen[-1][1] > 100, "one progress step per tensor, up to the last"
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert 0.5 * result.source_bytes < result.output_bytes < result.source_bytes, "Q4_0 is smaller than the Q4_1 source"
    assert not list(result.output.parent.glob("*.partial"))
    assert private.resolve(f"{SOURCE}:q4_0").path == result.output
    again = optimize_model(private, SOURCE, "q4_0", progress=lambda *_: pytest.fail("a reused copy is not quantized again"))
    assert again.reused and again.output == result.output
    forced = optimize_model(private, SOURCE, "q4_0", force=True)
    assert not forced.reused and forced.output_bytes == result.output_bytes


def test_an_interrupted_optimize_leaves_no_file_behind(private: ModelCatalog) -> None:
    def interrupt(_step: str, done: int, _total: int) -> None:
        if done >= 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        optimize_model(private, SOURCE, "q8_0", progress=interrupt)
    folder = private.models_dir / "optimized"
    assert not list(folder.glob("*.partial")) and not list(folder.glob("*q8_0*"))
    with pytest.raises(ModelNotFoundError, match="optimized model missing") as info:
        private.resolve(f"{SOURCE}:q8_0")
    assert "livemind models optimize smollm2-135m --type q8_0" in info.value.hint


def test_a_corrupt_source_gets_a_clear_error_and_no_output(tmp_path: Path, private: ModelCatalog) -> None:
    real = private.resolve(SOURCE).path
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(real.read_bytes()[: 3 * 2**20])
    with pytest.raises(ModelCorruptError, match=r"could not quantize truncated\.gguf") as info:
        optimize_model(private, str(truncated), "q4_0")
    assert "livemind models verify" in info.value.hint
    assert not (private.models_dir / "optimized" / "truncated.to-q4_0.gguf").exists()
    assert not list((private.models_dir / "optimized").glob("*.partial"))
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    with pytest.raises(ModelCorruptError, match="not a GGUF file"):
        optimize_model(private, str(text), "q4_0")


def test_bad_requests_name_the_fix(private: ModelCatalog) -> None:
    with pytest.raises(LiveMindError, match="unknown target type 'q3_z'") as info:
        optimize_model(private, SOURCE, "q3_z")
    assert "q4_0" in info.value.hint
    with pytest.raises(LiveMindError, match="already an optimized copy"):
        optimize_model(private, f"{SOURCE}:q4_0", "q4_0")
    with pytest.raises(LiveMindError, match="embedding model"):
        optimize_model(private, "all-minilm-l6-v2", "q4_0")


def test_an_expert_configuration_names_an_optimized_copy(private: ModelCatalog) -> None:
    raw = {"router": {"fallback": "fast"}, "debate": {"synthesizer": "fast", "quorum": 1},
           "experts": [{"name": "fast", "model": f"{SOURCE}:iq4_nl", "description": "answers quickly",
                        "persona": "You answer briefly."}]}
    with pytest.raises(ConfigError, match="optimized model missing") as info:
        parse_config(raw, private)
    assert "livemind models optimize smollm2-135m --type iq4_nl" in info.value.hint
    optimize_model(private, SOURCE, "iq4_nl")
    config = parse_config(raw, private)
    assert config.experts[0].model == f"{SOURCE}:iq4_nl"


def test_the_comparison_proves_the_repack_and_measures_quality(private: ModelCatalog, tmp_path: Path) -> None:
    doc = compare(private, SOURCE, ("q4_0",), quick=True, scratch=tmp_path / "scratch")
    source, q4 = doc["rows"]["source"], doc["rows"]["q4_0"]
    assert source["weight_types"].get("q4_1", 0) > 0 and q4["weight_types"].get("q4_0", 0) > 0
    # llama.cpp repacks Q4_0 for AVX2 (8x8) and NEON dotprod/i8mm; it has no repack for Q4_1
    assert source["repacked_mib"] == 0.0
    assert q4["repacked_mib"] > 10.0, q4["buffers_mib"]
    for row in (source, q4):
        assert math.isfinite(row["perplexity"]) and 1.0 < row["perplexity"] < 1000.0
        assert row["decode_tok_s"] > 0 and row["batch3_decode_tok_s"] > 0 and row["load_s"] > 0
        assert 0 <= row["facts_correct"] <= doc["fact_questions"]
    assert source["kl_vs_source"] == 0.0 and source["top1_agreement"] == 1.0
    assert q4["kl_vs_source"] > 0.0, "requantizing changes the weights, so the distributions differ a little"
    assert q4["top1_agreement"] > 0.6, "yet the same next token is predicted most of the time"
    assert q4["perplexity"] < 1.5 * source["perplexity"]
    assert 0 <= q4["answers_identical_to_source"] <= doc["fact_questions"]
    assert set(q4["vs_source"]) >= {"load_s", "decode_tok_s", "batch3_decode_tok_s"}


def test_cli_optimize_json_and_missing_model(private_home: Path) -> None:
    cli = [sys.executable, "-m", "livemind.cli.main", "--home", str(private_home), "models", "optimize"]
    done = subprocess.run([*cli, SOURCE, "--no-compare", "--json"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["reference"] == f"{SOURCE}:q4_0" and Path(doc["output"]).is_file()
    assert "tensors" in done.stderr
    missing = subprocess.run(cli, capture_output=True, text=True, timeout=120, check=False)
    assert missing.returncode != 0 and "takes one model" in missing.stderr
