"""ExpertRunner: one expert's generation through the scheduler and the pool, with streaming, timeout and cancel."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from livemind.engine.backends.base import AnyOf, CancelSignal, LoadTarget, TokenCallback
from livemind.engine.catalog import ModelCatalog
from livemind.engine.pool import ModelPool
from livemind.engine.scheduler import ScheduleMode, Scheduler, TokenThread
from livemind.errors import GenerationCancelled
from livemind.types import ChatMessage, Completion, ExpertSpec, GenerationRequest


class ExpertTimeout(GenerationCancelled):
    """An expert took longer than its time limit."""


class ExpertRunner:
    """Turns (expert, messages) into a completion using the shared model pool."""

    def __init__(self, pool: ModelPool, catalog: ModelCatalog, *, mode: ScheduleMode = "latency") -> None:
        self.pool = pool
        self.catalog = catalog
        self.scheduler = Scheduler(pool, mode=mode)
        self._targets: dict[str, LoadTarget] = {}

    def target_for(self, expert: ExpertSpec) -> LoadTarget:
        """The load target of an expert; personas with the same model and engine share one."""
        cached = self._targets.get(expert.name)
        if cached is not None:
            return cached
        if expert.remote is not None:
            target = LoadTarget(model=expert.model, path=None, engine=expert.engine, remote=expert.remote)
        else:
            resolved = self.catalog.resolve(expert.model)
            target = LoadTarget(model=resolved.name, path=resolved.path, engine=expert.engine,
                                chat_format=resolved.chat_format)
        self._targets[expert.name] = target
        return target

    def generate(
        self,
        expert: ExpertSpec,
        messages: Sequence[ChatMessage],
        *,
        seed: int | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        on_token: TokenCallback | None = None,
        cancel: CancelSignal | None = None,
        timeout_s: float | None = None,
        conversation: str | None = None,
        batch_group: str | None = None,
        token_thread: TokenThread = "caller",
    ) -> Completion:
        """Generate one answer; raise ExpertTimeout or GenerationCancelled when stopped early.

        on_token runs in this thread, or with token_thread="decoder" in the one that decodes (see TokenThread).
        """
        sampling = expert.sampling
        updates: dict[str, object] = {}
        if seed is not None:
            updates["seed"] = seed
        if max_tokens is not None:
            updates["max_tokens"] = max_tokens
        if temperature is not None:
            updates["temperature"] = temperature
        if updates:
            sampling = sampling.model_copy(update=updates)
        request = GenerationRequest(messages=tuple(messages), sampling=sampling, conversation=conversation,
                                    batch_group=batch_group)
        timed_out = threading.Event()
        timer = threading.Timer(timeout_s, timed_out.set) if timeout_s else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            # concurrent calls for one model (the personas of a round) decode as one batch
            completion = self.scheduler.generate(self.target_for(expert), request, on_token=on_token,
                                                 cancel=AnyOf(cancel, timed_out), token_thread=token_thread)
        finally:
            if timer is not None:
                timer.cancel()
        if completion.finish_reason == "cancelled":
            if timed_out.is_set():
                raise ExpertTimeout(f"expert '{expert.name}' timed out after {timeout_s:.0f} s",
                                    hint="raise expert_timeout_s or lower max_tokens")
            raise GenerationCancelled(f"generation by '{expert.name}' was cancelled",
                                      tokens_after_cancel=completion.tokens_after_cancel)
        return completion
