"""Sentence embeddings: the seam (Embedder) and its sentence-transformers implementation."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from livemind.errors import ModelNotFoundError

Vectors = npt.NDArray[np.float32]


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
    """all-MiniLM-L6-v2 (or any sentence-transformers folder) on the CPU, loaded on first use."""

    def __init__(self, model_dir: Path) -> None:
        if not (model_dir / "modules.json").exists():
            raise ModelNotFoundError(f"embedding model missing: {model_dir}", hint="run `livemind models pull`")
        self.model_dir = model_dir
        self._model: object | None = None
        self._lock = threading.Lock()

    @property
    def fingerprint(self) -> str:
        """The model folder and the size of its weights."""
        weights = self.model_dir / "model.safetensors"
        size = weights.stat().st_size if weights.exists() else 0
        return f"{self.model_dir.name}:{size}"

    def _load(self) -> object:
        # torch and sentence-transformers cost ~6 s to import: only paths that embed pay it
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(self.model_dir), device="cpu", local_files_only=True)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed and normalise; thread-safe."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
            vectors = self._model.encode(  # type: ignore[attr-defined]
                list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        return np.asarray(vectors, dtype=np.float32)


def mean_pairwise_similarity(vectors: Vectors) -> float:
    """Mean cosine similarity over all pairs of rows (1.0 for fewer than two rows)."""
    n = len(vectors)
    if n < 2:
        return 1.0
    sims = vectors @ vectors.T
    total = (sims.sum() - np.trace(sims)) / (n * (n - 1))
    return float(np.clip(total, -1.0, 1.0))
