"""The embedder: ONNX Runtime and torch give the same vectors, the export is cached and repaired."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from livemind.council.embeddings import SentenceEmbedder, ensure_onnx_export, mean_pairwise_similarity, onnx_path
from livemind.engine.catalog import ModelCatalog

TEXTS = ["What is the capital of Australia?",
         "Write a Python function that merges two sorted lists, and explain its complexity in two sentences.",
         "Is it fair to grade exams with AI?", ""]


@pytest.fixture(scope="module")
def model_dir(catalog: ModelCatalog) -> Path:
    return catalog.path_of(catalog.entry("all-minilm-l6-v2"))


def test_onnx_and_torch_give_the_same_unit_vectors(model_dir: Path) -> None:
    onnx = SentenceEmbedder(model_dir, backend="onnx")
    torch = SentenceEmbedder(model_dir, backend="torch")
    a, b = onnx.embed(TEXTS), torch.embed(TEXTS)  # one padded batch of very different lengths
    assert onnx.backend == "onnx" and torch.backend == "torch"
    assert a.shape == b.shape == (4, 384)
    assert np.abs(a - b).max() < 1e-4
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    # one text alone gets the same vector as inside a padded batch
    assert np.abs(onnx.embed([TEXTS[0]])[0] - a[0]).max() < 1e-5
    assert mean_pairwise_similarity(a[:2]) < 0.5


def test_the_serving_process_never_imports_torch(model_dir: Path) -> None:
    ensure_onnx_export(model_dir)
    code = ("import sys; from pathlib import Path; from livemind.council.embeddings import SentenceEmbedder; "
            f"e = SentenceEmbedder(Path({str(model_dir)!r})); e.embed(['hello']); "
            "print(e.backend, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["onnx", "False"]


def test_a_damaged_export_is_redone_and_a_missing_one_made(model_dir: Path, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    copy = tmp_path / model_dir.name
    shutil.copytree(model_dir, copy, ignore=shutil.ignore_patterns("onnx"))
    first = ensure_onnx_export(copy)  # missing: exported in a child process
    assert first == onnx_path(copy) and first.stat().st_size > 10 * 2**20
    assert not list(first.parent.glob("*.partial"))
    assert ensure_onnx_export(copy).stat().st_mtime_ns == first.stat().st_mtime_ns  # cached, not redone
    first.write_bytes(b"not an onnx graph")
    embedder = SentenceEmbedder(copy)
    with caplog.at_level(logging.WARNING, logger="livemind.council.embeddings"):
        vectors = embedder.embed(TEXTS[:2])
    assert embedder.backend == "onnx"
    assert "exporting it again" in caplog.text
    assert first.stat().st_size > 10 * 2**20
    reference = SentenceEmbedder(model_dir, backend="onnx").embed(TEXTS[:2])
    assert np.abs(vectors - reference).max() < 1e-5


def test_without_a_usable_export_routing_falls_back_to_torch(model_dir: Path, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    copy = tmp_path / model_dir.name
    shutil.copytree(model_dir, copy, ignore=shutil.ignore_patterns("onnx"))
    (copy / "onnx").write_text("a file where the export folder should be")  # the export cannot be written
    embedder = SentenceEmbedder(copy)
    with caplog.at_level(logging.WARNING, logger="livemind.council.embeddings"):
        vectors = embedder.embed(TEXTS[:1])
    assert embedder.backend == "torch"
    assert "using torch" in caplog.text and "livemind models pull" in caplog.text
    assert vectors.shape == (1, 384)


def test_exporting_without_the_export_extra_says_which_extra_to_install(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from livemind.council.embeddings import ensure_onnx_export
    from livemind.errors import MissingExtraError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(MissingExtraError) as caught:
        ensure_onnx_export(tmp_path / "all-minilm-l6-v2")
    assert "livemind[export]" in (caught.value.hint or "") and "torch" in caught.value.message
    assert not any(tmp_path.iterdir()), "nothing was written"
