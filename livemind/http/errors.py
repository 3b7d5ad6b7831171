"""LiveMind errors as HTTP responses: one status per branch of the error tree, OpenAI-style bodies.

    BusyError            429  rate_limit_error       + Retry-After
    PromptTooLongError   413  invalid_request_error
    UnknownExpertError   404  invalid_request_error
    RequestError         400  invalid_request_error
    RamBudgetExceeded    503  server_error           + Retry-After (fits once others unload)
                         503  model_exceeds_ram_limit + x-should-retry: false (can never fit)
    ModelError           503  server_error
    GenerationCancelled  503  server_error           (cancelled by a shutdown)
    RemoteExpertError    502  server_error
    LiveMindError        500  server_error
"""

from __future__ import annotations

import json
import math

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from livemind.errors import (
    BusyError,
    GenerationCancelled,
    LiveMindError,
    ModelError,
    PromptTooLongError,
    RamBudgetExceeded,
    RemoteExpertError,
    RequestError,
    UnknownExpertError,
)
from livemind.http.wire import ErrorBody, ErrorDetail

RAM_RETRY_AFTER_S = 10


class HttpProblem(Exception):
    """A refusal that belongs to HTTP itself (not ready, unknown model, no such route)."""

    def __init__(self, status: int, code: str, message: str, hint: str = "", *,
                 retry_after_s: float | None = None, should_retry: bool = True) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.retry_after_s = retry_after_s
        self.should_retry = should_retry
        super().__init__(f"{message}; {hint}" if hint else message)


def problem_for(exc: LiveMindError) -> HttpProblem:
    """The HTTP status, error code and headers for a LiveMind error."""
    message, hint = exc.message, exc.hint
    if isinstance(exc, BusyError):
        return HttpProblem(429, "queue_full", message, hint, retry_after_s=exc.retry_after_s)
    if isinstance(exc, PromptTooLongError):
        return HttpProblem(413, "prompt_too_long", message, hint)
    if isinstance(exc, UnknownExpertError):
        return HttpProblem(404, "model_not_found", message, hint)
    if isinstance(exc, RequestError):
        return HttpProblem(400, "invalid_request", message, hint)
    if isinstance(exc, RamBudgetExceeded) and exc.permanent:  # no Retry-After: waiting will not make it fit
        return HttpProblem(503, "model_exceeds_ram_limit", message, hint, should_retry=False)
    if isinstance(exc, RamBudgetExceeded):
        return HttpProblem(503, "ram_budget_exceeded", message, hint, retry_after_s=RAM_RETRY_AFTER_S)
    if isinstance(exc, ModelError):
        return HttpProblem(503, "model_unavailable", message, hint)
    if isinstance(exc, GenerationCancelled):
        return HttpProblem(503, "cancelled", message, hint or "send the request again")
    if isinstance(exc, RemoteExpertError):
        return HttpProblem(502, "remote_expert_failed", message, hint)
    return HttpProblem(500, "internal_error", message, hint)


def _error_type(status: int) -> str:
    if status == 429:
        return "rate_limit_error"
    if status == 401:
        return "authentication_error"
    if status == 404:
        return "not_found_error"
    return "invalid_request_error" if status < 500 else "server_error"


def error_body(problem: HttpProblem) -> ErrorBody:
    """The JSON body of a refusal."""
    return ErrorBody(error=ErrorDetail(message=problem.message, type=_error_type(problem.status), code=problem.code,
                                       hint=problem.hint))


def error_headers(problem: HttpProblem) -> dict[str, str]:
    """Retry-After (whole seconds, at least 1) when the client should come back later."""
    if not problem.should_retry:  # OpenAI SDKs retry 5xx by default unless told not to
        return {"x-should-retry": "false"}
    if problem.retry_after_s is None:
        return {}
    return {"Retry-After": str(max(1, math.ceil(problem.retry_after_s)))}


def problem_response(problem: HttpProblem) -> JSONResponse:
    """A refusal as a JSON response."""
    return JSONResponse(error_body(problem).model_dump(mode="json"), status_code=problem.status,
                        headers=error_headers(problem))


def sse_error_frame(problem: HttpProblem) -> bytes:
    """A refusal inside an event stream that has already started (OpenAI clients raise it)."""
    return f"data: {json.dumps(error_body(problem).model_dump(mode='json'), ensure_ascii=False)}\n\n".encode()


async def on_livemind_error(request: Request, exc: Exception) -> Response:
    """Starlette exception handler for the LiveMind error tree."""
    assert isinstance(exc, LiveMindError)
    return problem_response(problem_for(exc))


async def on_http_problem(request: Request, exc: Exception) -> Response:
    """Starlette exception handler for HttpProblem."""
    assert isinstance(exc, HttpProblem)
    return problem_response(exc)


async def on_starlette_http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405, in the same JSON shape as everything else."""
    status = int(getattr(exc, "status_code", 500))
    detail = str(getattr(exc, "detail", "")) or "error"
    hint = "see GET /v1/models and docs/http.md for the endpoints" if status in (404, 405) else ""
    code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
    return problem_response(HttpProblem(status, code, f"{detail}: {request.method} {request.url.path}", hint))
