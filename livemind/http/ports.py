"""The ARM-Axion seed's four ports as roles of one server: which requests each port serves.

    8082 complete    single answers (an expert or livemind-auto), stream false
    8083 streaming   single answers, stream true: token by token as SSE
    8084 council     livemind-consensus / livemind-debate and /v1/livemind/{consensus,debate};
                     a council's mode defaults to parallel
    8085 safe        everything, lazily loaded; a council's mode defaults to turns (one model
                     in RAM at a time) and parallel is refused

A port serves what its role names and refuses the rest with 400 `wrong_port`, naming the port
that serves it. Nothing is converted behind the client's back: a client wired to 8083 that
forgets `stream: true` would otherwise get a JSON body its stream parser cannot read, and a
client wired to 8082 would get SSE. The one thing a role fills in is what a request leaves
unsaid (a council's mode). Everything else (models, status, health, metrics, MCP) is the same
on every port: one process, one pool, one RAM guard.

`PortRoles` is ASGI middleware: it reads the port a request arrived on from the ASGI scope,
checks (and for a council fills in) the JSON body, then hands the request to the shared app. It
sits outside the app's bearer-token check and request counter: a wrong-port refusal tells only
which port serves what, and is not counted in /metrics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from livemind.http.errors import HttpProblem, problem_response
from livemind.http.wire import AUTO_MODEL, CONSENSUS_MODEL, DEBATE_MODEL
from livemind.server.security import ASGIApp, Message, Receive, Scope, Send

AXION_BASE_PORT = 8082
RoleName = Literal["complete", "streaming", "council", "safe"]
ROLE_ORDER: tuple[RoleName, ...] = ("complete", "streaming", "council", "safe")
COUNCIL_MODELS = (CONSENSUS_MODEL, DEBATE_MODEL)
CHAT_PATH = "/v1/chat/completions"
COUNCIL_PATHS = ("/v1/livemind/consensus", "/v1/livemind/debate")
ROLE_TEXT: dict[RoleName, str] = {
    "complete": "complete (non-streaming) answers",
    "streaming": "answers streamed token by token",
    "council": "parallel councils",
    "safe": "the safe, lazy-loading profile (councils take turns)",
}


@dataclass(frozen=True)
class PortPlan:
    """Which port plays which role."""

    ports: dict[RoleName, int]

    @classmethod
    def from_base(cls, base: int = AXION_BASE_PORT) -> PortPlan:
        """BASE, BASE+1, BASE+2, BASE+3 in the seed's order."""
        if not 1 <= base <= 65535 - 3:
            raise ValueError(f"base port {base} leaves no room for four ports (1-65532)")
        return cls({role: base + i for i, role in enumerate(ROLE_ORDER)})

    def role_of(self, port: int) -> RoleName | None:
        """The role of a port, or None for a port that is not one of the four."""
        return next((role for role, p in self.ports.items() if p == port), None)


def check_request(plan: PortPlan, role: RoleName, path: str, body: dict[str, object]) -> dict[str, object]:
    """The body to serve on this port (a council's mode filled in), or an HttpProblem naming the right port."""
    is_council_path = path in COUNCIL_PATHS
    model = body.get("model")
    is_council = is_council_path or model in COUNCIL_MODELS
    if role in ("complete", "streaming"):
        if is_council:
            raise _wrong_port(plan, role, "a council (livemind-consensus, livemind-debate)", "council")
        wants_stream = body.get("stream") is True
        if role == "complete" and wants_stream:
            raise _wrong_port(plan, role, "a streamed answer (stream: true)", "streaming")
        if role == "streaming" and not wants_stream:
            raise _wrong_port(plan, role, "a complete answer (stream false or missing)", "complete",
                              extra="; or set \"stream\": true")
        return body
    if role == "council" and not is_council:
        kind = "streamed single answer" if body.get("stream") is True else "single answer"
        target: RoleName = "streaming" if body.get("stream") is True else "complete"
        raise _wrong_port(plan, role, f"a {kind} (model '{model or AUTO_MODEL}')", target,
                          extra=f"; or ask this port for model '{CONSENSUS_MODEL}'")
    if not is_council:
        return body
    return _with_mode(plan, role, body, is_council_path)


def _with_mode(plan: PortPlan, role: RoleName, body: dict[str, object], is_council_path: bool) -> dict[str, object]:
    """A council's mode: the port's default when the request says none; a contradiction is refused."""
    wanted = "parallel" if role == "council" else "turns"
    holder = body if is_council_path else body.get("livemind")
    if holder is None:
        holder = {}
    if not isinstance(holder, dict):
        return body  # not a council object at all: the app's validation says what is wrong
    mode = holder.get("mode")
    if mode is None or mode == "auto":
        filled = {**holder, "mode": wanted}
        return filled if is_council_path else {**body, "livemind": filled}
    if role == "council" and mode == "turns":
        raise _wrong_port(plan, role, "a turn-based council (mode: turns)", "safe")
    if role == "safe" and mode == "parallel":
        raise _wrong_port(plan, role, "a parallel council (mode: parallel)", "council")
    return body


def _wrong_port(plan: PortPlan, role: RoleName, what: str, target: RoleName, *, extra: str = "") -> HttpProblem:
    here, there = plan.ports[role], plan.ports[target]
    where = f"send it to port {there}, which serves {ROLE_TEXT[target]}{extra}"
    # the port goes in the message too: OpenAI clients show the message and drop the hint
    return HttpProblem(400, "wrong_port", f"port {here} serves {ROLE_TEXT[role]}, not {what}: {where}", where)


class PortRoles:
    """ASGI middleware: each request is checked against the role of the port it arrived on."""

    def __init__(self, app: ASGIApp, plan: PortPlan, *, max_body_bytes: int) -> None:
        self._app = app
        self._plan = plan
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        server = scope.get("server") or (None, None)
        role = self._plan.role_of(int(server[1] or 0))
        if scope["type"] != "http" or scope.get("method") != "POST" or role is None or \
                path not in (CHAT_PATH, *COUNCIL_PATHS):
            await self._app(scope, receive, send)
            return
        raw, more = await _read_body(receive, self._max_body_bytes)
        if more:  # over the size limit: the app refuses it with 413, from the bytes already read
            await self._app(scope, _replay(raw, receive, more=True), send)
            return
        try:
            body = json.loads(raw) if raw.strip() else None
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):  # not a JSON object: the app's validation says what is wrong
            await self._app(scope, _replay(raw, receive, more=False), send)
            return
        try:
            checked = check_request(self._plan, role, path, body)
        except HttpProblem as problem:
            await problem_response(problem)(scope, receive, send)
            return
        if checked is not body:
            raw = json.dumps(checked).encode()
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
                     + [(b"content-length", str(len(raw)).encode())]}
        await self._app(scope, _replay(raw, receive, more=False), send)


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The request body up to `limit` bytes, and whether more was left unread."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False
        if size > limit:
            return b"".join(chunks), True


def _replay(raw: bytes, receive: Receive, *, more: bool) -> Receive:
    """A receive callable that first gives back the bytes already read, then the rest of the stream."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": more}
        return await receive()

    return replay
