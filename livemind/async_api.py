"""The async face of LiveMind: the engine runs on worker threads, cancelling the awaiting task stops it.

    await mind.aask(...)            one expert, in a worker thread; a cancelled task stops generation
    await mind.adebate(...)         a council to its result
    async for e in mind.astream():  its events, through livemind.bridge; closing the iterator cancels it
    async with LiveMind.open(...)   start() and close() off the event loop
"""

from __future__ import annotations

import asyncio
import functools
import threading
import uuid
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any, Protocol, TypeVar

from livemind.bridge import ThreadBridge
from livemind.chat import Messages
from livemind.council.options import CouncilOptions
from livemind.engine.backends.base import TokenCallback
from livemind.events import DebateEvent, require_result, result_of
from livemind.types import Answer, DebateResult, RouteDecision


class SyncMind(Protocol):
    """What the async face needs of the synchronous LiveMind it is mixed into."""

    @property
    def runtime(self) -> Any: ...
    @property
    def ask(self) -> Callable[..., Answer]: ...
    @property
    def stream(self) -> Callable[..., Iterator[DebateEvent]]: ...
    def cancel(self, session_id: str) -> None: ...
    def start(self) -> None: ...
    def close(self) -> None: ...


_M = TypeVar("_M", bound=SyncMind)


class AsyncApi:
    """Mixed into LiveMind: every method runs the synchronous engine without blocking the event loop.

    `self` is the LiveMind it is mixed into, typed by the `SyncMind` protocol (no import of the orchestrator).
    """

    async def aask(self: SyncMind, question: str | None = None, *, messages: Messages | None = None,
                   expert: str | None = None, max_tokens: int | None = None,
                   seed: int | None = None, temperature: float | None = None,
                   on_token: TokenCallback | None = None) -> Answer:
        """Async ask: the engine runs in a worker thread, and cancelling the awaiting task stops generation."""
        cancel = threading.Event()
        work = functools.partial(self.ask, question, messages=messages, expert=expert, max_tokens=max_tokens, seed=seed,
                                 temperature=temperature, on_token=on_token, cancel=cancel)
        try:
            return await asyncio.to_thread(work)
        except asyncio.CancelledError:
            cancel.set()  # the worker stops at its next token and frees the model
            raise

    async def adebate(self: SyncMind, question: str | None = None, *, messages: Messages | None = None,
                      options: CouncilOptions | None = None, routing: RouteDecision | None = None,
                      **option_values: object) -> DebateResult:
        """Async debate (a debate unless `strategy` names another); cancelling the awaiting task cancels the session."""
        options = (options or CouncilOptions()).with_values(**option_values)
        result: DebateResult | None = None
        async for event in AsyncApi.astream(self, question, messages=messages, routing=routing,
                                            options=options.for_debate()):
            result = result_of(event) or result
        return require_result(result)

    async def astream(self: SyncMind, question: str | None = None, *, messages: Messages | None = None,
                      options: CouncilOptions | None = None, session_id: str | None = None,
                      routing: RouteDecision | None = None,
                      **option_values: object) -> AsyncGenerator[DebateEvent, None]:
        """Async stream of debate events; closing the iterator (or cancelling its task) cancels the debate.

        The options are `stream`'s: a CouncilOptions, keyword values of its fields, or both.
        """
        session_id = session_id or uuid.uuid4().hex[:12]
        stream = functools.partial(self.stream, question, messages=messages, session_id=session_id, routing=routing,
                                   options=(options or CouncilOptions()).with_values(**option_values))
        bridge: ThreadBridge[DebateEvent | BaseException | None] = ThreadBridge(f"debate-{session_id}")

        def work(out: ThreadBridge[DebateEvent | BaseException | None]) -> None:
            try:
                for event in stream():
                    out.put(event)
            except BaseException as exc:  # delivered to the async consumer
                out.put(exc)
            finally:
                out.put(None)

        bridge.start(work)
        finished = False
        try:
            while (item := await bridge.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
            finished = True
        finally:
            if not finished:
                self.cancel(session_id)
            await bridge.ajoin(30)  # shielded: a cancelled caller still waits for the worker to stop generating
            self.runtime.cancels.pop(session_id, None)

    async def __aenter__(self: _M) -> _M:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self: SyncMind, *exc: object) -> None:
        await asyncio.to_thread(self.close)
