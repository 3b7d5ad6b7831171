"""Sentence embeddings: the seam (Embedder) and its sentence-transformers implementation.

Routing embeds one short question per request, so per-call overhead matters more than FLOPs.
The default runs the sentence-transformers model through ONNX Runtime with the Rust `tokenizers`
(7.6 ms per question here against 20-25 ms through torch, same vectors to 1e-7), and never
imports torch in the serving process. The ONNX file is exported once, in a child process, from
the same weights and checked against torch before use; `backend="torch"` keeps the original path.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from livemind.engine.backends.base import available_cores
from livemind.errors import MissingExtraError, ModelNotFoundError

Vectors = npt.NDArray[np.float32]
EmbeddingBackend = Literal["onnx", "torch"]

log = logging.getLogger(__name__)

# The exported graph must reproduce torch's vectors this closely on the probe texts, or it is not used.
EXPORT_TOLERANCE = 1e-4
_PROBES = ("What is the capital of Australia?", "Write a Python function that merges two sorted lists, then test it.")


class Embedder(Protocol):
    """Turns texts into unit-length vectors."""

    @property
    def fingerprint(self) -> str:
        """Identifies the model, so cached vectors from another model are never reused."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One L2-normalised row per text."""
        ...


class SentenceEmbedder:
    """all-MiniLM-L6-v2 (or any sentence-transformers folder) on the CPU, loaded on first use.

    backend "onnx" (default) exports the model once to `<model>/onnx/` and runs it with ONNX Runtime;
    if that is impossible it logs why and falls back to torch, so routing never stops working.
    """

    def __init__(self, model_dir: Path, *, backend: EmbeddingBackend = "onnx", threads: int | None = None) -> None:
        if not (model_dir / "modules.json").exists():
            raise ModelNotFoundError(f"embedding model missing: {model_dir}", hint="run `livemind models pull`")
        self.model_dir = model_dir
        self.requested_backend: EmbeddingBackend = backend
        self.threads = threads or available_cores()
        self.backend: EmbeddingBackend | None = None  # what actually runs, known once loaded
        self._encode: Callable[[list[str]], Vectors] | None = None
        self._lock = threading.Lock()

    @property
    def fingerprint(self) -> str:
        """The model folder and the size of its weights."""
        weights = self.model_dir / "model.safetensors"
        size = weights.stat().st_size if weights.exists() else 0
        return f"{self.model_dir.name}:{size}"

    def _load(self) -> Callable[[list[str]], Vectors]:
        if self.requested_backend == "onnx":
            try:
                encode = self._onnx_or_reexport()
                self.backend = "onnx"
                return encode
            except Exception as exc:  # any failure here must leave routing working on torch
                log.warning("ONNX embeddings unavailable (%s); using torch. Fix it with `livemind models pull`.", exc)
        self.backend = "torch"
        return _torch_encoder(self.model_dir)

    def _onnx_or_reexport(self) -> Callable[[list[str]], Vectors]:
        onnx_file = ensure_onnx_export(self.model_dir)
        try:
            return _onnx_encoder(onnx_file, self.model_dir, self.threads)
        except Exception as exc:  # a damaged export (disk full, killed writer): export again, once
            log.warning("ONNX embedding file %s is unreadable (%s); exporting it again", onnx_file, exc)
            onnx_file.unlink(missing_ok=True)
            return _onnx_encoder(ensure_onnx_export(self.model_dir), self.model_dir, self.threads)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed and normalise; thread-safe."""
        with self._lock:
            if self._encode is None:
                self._encode = self._load()
            vectors = self._encode(list(texts))
        return np.asarray(vectors, dtype=np.float32)


def _torch_encoder(model_dir: Path) -> Callable[[list[str]], Vectors]:
    # torch and sentence-transformers cost ~6 s to import: only this path pays it
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MissingExtraError("sentence-transformers", "export", 'embedding_backend = "torch"') from exc

    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)

    def encode(texts: list[str]) -> Vectors:
        return model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    return encode


def _max_seq_length(model_dir: Path) -> int:
    config = model_dir / "sentence_bert_config.json"
    if config.exists():
        return int(json.loads(config.read_text()).get("max_seq_length", 256))
    return 256


def _onnx_encoder(onnx_file: Path, model_dir: Path, threads: int) -> Callable[[list[str]], Vectors]:
    import onnxruntime
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(_max_seq_length(model_dir))
    tokenizer.enable_padding()  # to the longest text of the call, not the file's fixed 128
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle ORT workers spin by default; that would steal the cores llama.cpp decodes on.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])

    def encode(texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        batch = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in batch], dtype=np.int64)
        mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
        return session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    return encode


def onnx_path(model_dir: Path) -> Path:
    """Where the export of these exact weights lives (the name changes when the weights do)."""
    weights = model_dir / "model.safetensors"
    stat = weights.stat() if weights.exists() else None
    key = hashlib.sha256(f"{stat.st_size if stat else 0}:{stat.st_mtime_ns if stat else 0}".encode()).hexdigest()[:12]
    return model_dir / "onnx" / f"livemind-{key}.onnx"


def ensure_onnx_export(model_dir: Path, *, timeout_s: float = 600.0) -> Path:
    """The ONNX file for this model, exported (in a child process, about 15 s) when missing."""
    target = onnx_path(model_dir)
    if target.exists():
        return target
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("sentence_transformers") is None:
        raise MissingExtraError("torch and sentence-transformers", "export",
                                f"exporting {model_dir.name} to ONNX (once, for routing)")
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("exporting %s to ONNX once for fast routing (about 15 s; `livemind models pull` does it ahead)",
                model_dir.name)
    # one partial file per writer: two processes exporting at once must not write into the same file
    partial = target.with_name(f"{target.stem}.{os.getpid()}.{threading.get_ident()}.partial")
    try:
        done = subprocess.run([sys.executable, "-m", "livemind.council.embeddings", "export", str(model_dir), str(partial)],
                              capture_output=True, text=True, errors="replace", timeout=timeout_s, check=False)
        if done.returncode != 0 or not partial.exists():
            tail = " ".join(done.stderr.strip().splitlines()[-3:])[-400:]
            raise RuntimeError(f"ONNX export of {model_dir.name} failed (exit {done.returncode}): {tail}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    for stale in target.parent.glob("livemind-*.onnx"):  # exports of older weights
        if stale != target:
            stale.unlink(missing_ok=True)
    return target


def _export(model_dir: Path, output: Path) -> None:
    """Child process: trace model → mean pooling → normalise into ONNX, then check it against torch."""
    import warnings

    warnings.simplefilter("ignore")
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True).eval()

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            features = {"input_ids": input_ids, "attention_mask": attention_mask,
                        "token_type_ids": torch.zeros_like(input_ids)}
            return torch.nn.functional.normalize(self.model(features)["sentence_embedding"], dim=1)

    sample = model.tokenizer(list(_PROBES), padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = model.encode(list(_PROBES), normalize_embeddings=True, convert_to_numpy=True)
    torch.onnx.export(Pipeline().eval(), (sample["input_ids"], sample["attention_mask"]), str(output),
                      input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                                    "embedding": {0: "batch"}},
                      opset_version=17, dynamo=False)
    got = _onnx_encoder(output, model_dir, 1)(list(_PROBES))
    error = float(np.abs(got - expected).max())
    if error > EXPORT_TOLERANCE:
        output.unlink(missing_ok=True)
        raise SystemExit(f"exported graph differs from torch by {error:.2e} (> {EXPORT_TOLERANCE}); not used")


def mean_pairwise_similarity(vectors: Vectors) -> float:
    """Mean cosine similarity over all pairs of rows (1.0 for fewer than two rows)."""
    n = len(vectors)
    if n < 2:
        return 1.0
    sims = vectors @ vectors.T
    total = (sims.sum() - np.trace(sims)) / (n * (n - 1))
    return float(np.clip(total, -1.0, 1.0))


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "export":
        sys.exit("usage: python -m livemind.council.embeddings export MODEL_DIR OUTPUT (run by LiveMind on first use)")
    _export(Path(sys.argv[2]), Path(sys.argv[3]))
