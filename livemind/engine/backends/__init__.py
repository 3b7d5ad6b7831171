"""Backends: the seam between LiveMind and an inference engine (local llama.cpp, remote servers)."""

from livemind.engine.backends.base import Backend, BackendLoader, LoadTarget, MemoryEstimate, TokenCallback

__all__ = ["Backend", "BackendLoader", "LoadTarget", "MemoryEstimate", "TokenCallback"]
