"""Chooses the loader for each target: multi-sequence llama.cpp for local files, HTTP for remote experts."""

from __future__ import annotations

from livemind.engine.backends.base import Backend, BackendLoader, LoadTarget, MemoryEstimate
from livemind.engine.backends.llama_batch import LlamaBatchLoader
from livemind.engine.backends.remote import RemoteLoader


class RoutingLoader:
    """Sends local targets to one loader and remote targets to another."""

    def __init__(self, local: BackendLoader, remote: BackendLoader | None = None) -> None:
        self._local = local
        self._remote = remote

    def _pick(self, target: LoadTarget) -> BackendLoader:
        if target.remote is not None and self._remote is not None:
            return self._remote
        return self._local

    def estimate(self, target: LoadTarget) -> MemoryEstimate:
        """Delegate to the loader that owns the target."""
        return self._pick(target).estimate(target)

    def load(self, target: LoadTarget) -> Backend:
        """Delegate to the loader that owns the target."""
        return self._pick(target).load(target)


def default_loader() -> BackendLoader:
    """Batched llama.cpp contexts for local models, OpenAI-compatible HTTP for remote experts."""
    return RoutingLoader(LlamaBatchLoader(), RemoteLoader())
