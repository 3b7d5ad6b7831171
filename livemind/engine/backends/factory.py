"""Chooses the loader for each target: multi-sequence llama.cpp for local files, HTTP for remote experts."""

from __future__ import annotations

from livemind.engine.backends.base import Backend, BackendLoader, LoadTarget, MemoryEstimate
from livemind.engine.backends.llama_loader import LlamaBatchLoader


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


class RemoteOnDemand:
    """The remote loader, imported when a remote expert is first used: the openai SDK takes ~0.5 s to import."""

    def __init__(self) -> None:
        self._loader: BackendLoader | None = None

    def _get(self) -> BackendLoader:
        if self._loader is None:
            from livemind.engine.backends.remote import RemoteLoader

            self._loader = RemoteLoader()
        return self._loader

    def estimate(self, target: LoadTarget) -> MemoryEstimate:
        """Delegate to the remote loader."""
        return self._get().estimate(target)

    def load(self, target: LoadTarget) -> Backend:
        """Delegate to the remote loader."""
        return self._get().load(target)


def default_loader() -> BackendLoader:
    """Batched llama.cpp contexts for local models, OpenAI-compatible HTTP for remote experts."""
    return RoutingLoader(LlamaBatchLoader(), RemoteOnDemand())
