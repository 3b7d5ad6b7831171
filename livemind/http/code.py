"""POST /v1/livemind/code: code consensus over HTTP, admitted through the server's lanes like every model call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from livemind.council.code import CodeResult
from livemind.errors import LiveMindError
from livemind.http.wire import CodeRequest, parse_request
from livemind.orchestrator import LiveMind
from livemind.server.gate import Gate


def code_endpoint(mind: LiveMind, gate: Gate, require_ready: Callable[[], None]) -> Callable[[Request], Awaitable[Response]]:
    """The handler: parse, route when no experts are named, take a lane, run, answer with the CodeResult as JSON."""

    async def code(request: Request) -> Response:
        require_ready()
        body = parse_request(CodeRequest, await request.body())
        experts = body.experts or list((await asyncio.to_thread(
            mind.route, body.task, mode="parallel", is_council=True)).selected)
        models = list(dict.fromkeys(mind.config.expert(e).model for e in experts))  # an unknown name is a 400 here
        admitted = gate.enter(models, endpoint="livemind.code", label="code")

        def work() -> CodeResult:
            try:
                admitted.wait()
                result = mind.code(body.task, signature=body.signature, tests=body.tests, experts=experts,
                                   samples=body.samples, probes=body.probes, temperature=body.temperature or 0.0, seed=body.seed,
                                   max_tokens=body.max_tokens, lead_samples=body.lead_samples,
                                   lead_temperature=body.lead_temperature)
            except LiveMindError as exc:
                admitted.fail(exc)
                raise
            admitted.succeed()
            return result

        try:
            result = await asyncio.to_thread(work)
        finally:
            admitted.tracker.finish("cancelled")  # a no-op once finished
            admitted.ticket.release()
        return JSONResponse(result.model_dump(mode="json"))

    return code
