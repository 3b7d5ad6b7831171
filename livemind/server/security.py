"""ASGI guards shared by the HTTP and MCP servers: bearer token and request size limit."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY_BYTES = 1 * 1024 * 1024
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
"""Hosts a server may bind without a bearer token."""


async def _json_error(send: Send, status: int, message: str, *, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": {"message": message, "type": "livemind_error", "code": status}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class BearerAuth:
    """Requires `Authorization: Bearer <key>` when a key is set; compares in constant time."""

    def __init__(self, app: ASGIApp, api_key: str | None, *, exempt_paths: tuple[str, ...] = ("/health",)) -> None:
        self.app = app
        self._key = api_key.encode() if api_key else None
        self._exempt = exempt_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._key is None or scope.get("path") in self._exempt:
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self._key):
            await _json_error(send, 401, "missing or wrong bearer token; send 'Authorization: Bearer $LIVEMIND_API_KEY'",
                              headers=[(b"www-authenticate", b'Bearer realm="livemind"')])
            return
        await self.app(scope, receive, send)


class BodySizeLimit:
    """Refuses request bodies over max_bytes with 413, whether announced or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _json_error(send, 413, f"request body is {int(declared)} bytes, over the limit of {self.max_bytes} bytes")
            return
        seen = 0
        started = False

        async def guarded_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _json_error(send, 413, f"request body is over the limit of {self.max_bytes} bytes")


class _TooLarge(Exception):
    """Raised inside the app when the streamed body passes the limit."""
