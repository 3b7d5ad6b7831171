"""Loading the batch backend: memory estimate, and one vocab-only read of the file for both the
GGUF metadata (the estimate) and the chat template (the backend's prompts)."""

from __future__ import annotations

from livemind.engine.backends.base import LoadTarget, MemoryEstimate
from livemind.engine.backends.llama_batch import LlamaBatchBackend
from livemind.engine.backends.llama_cpp import LlamaCppLoader, llama_cpp
from livemind.engine.backends.llama_sequence import TemplateRecorder


class LlamaBatchLoader(LlamaCppLoader):
    """Loads models into multi-sequence contexts; estimates count every sequence's KV cache."""

    def estimate(self, target: LoadTarget) -> MemoryEstimate:
        """Weights + KV for n_ctx × n_seq_max cells + compute margin."""
        single = super().estimate(target)
        return MemoryEstimate(weights=single.weights, kv_cache=single.kv_cache * target.engine.n_seq_max,
                              compute=single.compute)

    def __init__(self) -> None:
        super().__init__()
        self._recorders: dict[tuple[str, int, float], TemplateRecorder] = {}  # metadata probes kept for load()

    def _vocab_probe(self, target: LoadTarget) -> TemplateRecorder:
        # the probe that reads the metadata is the chat-template recorder the backend needs: loaded once
        recorder = TemplateRecorder(model_path=str(target.path), vocab_only=True, chat_format=target.chat_format,
                                    verbose=False)
        recorder.requested_format = target.chat_format
        return recorder

    def _probed(self, key: tuple[str, int, float], probe: llama_cpp.Llama) -> None:
        if isinstance(probe, TemplateRecorder) and key not in self._recorders:
            self._recorders[key] = probe
        else:
            probe.close()

    def load(self, target: LoadTarget) -> LlamaBatchBackend:  # type: ignore[override]
        """Load weights once and create one context with n_seq_max sequences."""
        self.metadata(target)  # a corrupt file fails here with a clear ModelCorruptError
        assert target.path is not None
        stat = target.path.stat()
        recorder = self._recorders.pop((str(target.path), stat.st_size, stat.st_mtime), None)
        if recorder is not None and recorder.requested_format != target.chat_format:
            recorder.close()  # probed for a target with another chat format
            recorder = None
        return LlamaBatchBackend(target, template=recorder)
