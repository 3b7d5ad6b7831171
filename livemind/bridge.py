"""The one bridge from blocking work on a thread to an asyncio event loop.

    event loop                               worker thread
    ──────────                               ─────────────
    bridge.start(work) ────────────────────▶ work(bridge): llama.cpp generates, blocking
    await bridge.get() ◀── call_soon_threadsafe ── bridge.put(item)
    await bridge.join() ─── to_thread(join) ──▶ the thread ends

LiveMind's engine is synchronous (llama.cpp holds the GIL-free work on its own threads); every
async entry point (`LiveMind.astream`/`adebate`, the HTTP server's jobs) runs it through this.
Items arrive in the order they were put; a put after the loop closed is dropped (nobody listens).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class ThreadBridge(Generic[T]):
    """Runs `work(bridge)` on its own daemon thread; the loop side awaits what it puts."""

    def __init__(self, name: str, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.name = name
        self._loop = loop or asyncio.get_running_loop()
        self._items: asyncio.Queue[T] = asyncio.Queue()
        self._thread: threading.Thread | None = None

    def put(self, item: T) -> None:
        """Hand an item to the loop (any thread)."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening any more
            self._loop.call_soon_threadsafe(self._items.put_nowait, item)

    def start(self, work: Callable[[ThreadBridge[T]], None]) -> None:
        """Run work(self) on a new daemon thread."""
        self._thread = threading.Thread(target=work, args=(self,), name=self.name, daemon=True)
        self._thread.start()

    async def get(self, timeout_s: float | None = None) -> T | None:
        """The next item; None when timeout_s passes first."""
        if timeout_s is None:
            return await self._items.get()
        try:
            return await asyncio.wait_for(self._items.get(), timeout_s)
        except TimeoutError:
            return None

    def join(self, timeout_s: float) -> bool:
        """Wait for the thread (blocking); True when it has ended (or never started)."""
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    async def ajoin(self, timeout_s: float) -> bool:
        """Wait for the thread without blocking the loop; shielded, so a cancelled caller still waits."""
        return await asyncio.shield(asyncio.to_thread(self.join, timeout_s))
