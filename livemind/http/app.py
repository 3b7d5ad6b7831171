"""`livemind serve`: one HTTP process for OpenAI clients, council streams, MCP, health and metrics.

    client ─▶ RequestCounter ─▶ BearerAuth ─▶ BodySizeLimit ─▶ Starlette routes
                                                                 │
        POST /v1/chat/completions   OpenAI-compatible; model = expert | livemind-auto |
                                    livemind-consensus | livemind-debate; stream or not
        GET  /v1/models             the experts and the virtual models
        POST /v1/livemind/consensus council events as SSE (tokens, rounds, agreement, result)
        POST /v1/livemind/debate
        GET  /v1/livemind/status    pool, RAM and queues as JSON
        GET  /health                200 ready · 503 starting, stopping or failed (no auth)
        GET  /metrics               Prometheus text
        *    /mcp                   MCP streamable HTTP (livemind.mcp.server)
                                                                 │
                          Dispatcher ─▶ Admission (bounded queue per model) ─▶ worker thread ─▶ LiveMind

Start-up serves at once and answers 503 until the router is warm. SIGTERM turns /health to
503, lets running requests finish for `drain_s`, cancels what is left, unloads the models and
exits with status 0.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Literal

import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from livemind.environment import EdgeSettings
from livemind.errors import LiveMindError
from livemind.http.code import code_endpoint
from livemind.http.dispatch import Dispatcher
from livemind.http.errors import (
    HttpProblem,
    error_headers,
    on_http_problem,
    on_livemind_error,
    on_starlette_http_error,
    problem_response,
)
from livemind.http.stream import CouncilRenderer, JobResponse, OpenAIRenderer
from livemind.http.wire import (
    VIRTUAL_MODELS,
    ChatCompletionRequest,
    CouncilRequest,
    ModelCard,
    ModelList,
    options_of,
    parse_request,
    question_from_messages,
)
from livemind.limits import QUESTION_CHARS
from livemind.mcp.server import create_mcp_server, mcp_http_app
from livemind.opening import open_mind
from livemind.orchestrator import LiveMind
from livemind.server.admission import DEFAULT_MAX_QUEUE, Admission
from livemind.server.admitted import lane_concurrency
from livemind.server.gate import Gate
from livemind.server.jobs import JobRegistry
from livemind.server.metrics import CONTENT_TYPE, Metrics
from livemind.server.security import (
    DEFAULT_MAX_BODY_BYTES,
    LOOPBACK_HOSTS,
    ASGIApp,
    BearerAuth,
    BodySizeLimit,
    Message,
    Receive,
    Scope,
    Send,
)
from livemind.version import __version__

LOG = logging.getLogger("livemind.http")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_DRAIN_S = 10.0
SHUTDOWN_JOIN_S = 30.0
Phase = Literal["starting", "ready", "stopping", "failed"]
KNOWN_PATHS = ("/v1/chat/completions", "/v1/models", "/v1/livemind/consensus", "/v1/livemind/debate",
               "/v1/livemind/status", "/health", "/metrics", "/mcp")
_Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class ServeOptions:
    """How the server admits and stops work."""

    max_queue: int = DEFAULT_MAX_QUEUE
    drain_s: float = DEFAULT_DRAIN_S
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


class Service:
    """Everything one server process holds: the LiveMind, its queues, jobs, metrics and phase."""

    def __init__(self, mind: LiveMind, options: ServeOptions) -> None:
        self.mind = mind
        self.options = options
        self.phase: Phase = "starting"
        self.failure = ""
        self.admission = Admission(max_queue=options.max_queue, concurrency=lane_concurrency(
            mind.config, batches=mind.schedule_mode == "throughput"))
        self.jobs = JobRegistry()
        self.metrics = Metrics(pool_status=mind.status, lanes=self.admission.status, is_ready=self.is_ready)
        self.gate = Gate(self.admission, self.metrics)
        self.dispatcher = Dispatcher(mind, self.gate, self.jobs)
        self._stop = asyncio.Event()
        self._background: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def is_ready(self) -> bool:
        """Whether requests are served now."""
        return self.phase == "ready"

    def require_ready(self) -> None:
        """Refuse with 503 unless ready."""
        if self.phase != "ready":
            raise _not_ready(self.phase, self.failure)

    async def start(self, mcp_server: MCPServer) -> None:
        """Warm up and open MCP in the background, so /health can say 'starting' meanwhile."""
        self._loop = asyncio.get_running_loop()
        self._background = asyncio.create_task(self._serve_background(mcp_server), name="livemind-http-background")

    async def _serve_background(self, mcp_server: MCPServer) -> None:
        try:
            # sentence-transformers takes seconds to load; the first routed request must not pay it
            await asyncio.to_thread(self.mind.start)
            async with mcp_server.session_manager.run():
                if self.phase == "starting":
                    self.phase = "ready"
                    LOG.info("ready: %d experts, virtual models %s", len(self.mind.config.experts),
                             ", ".join(VIRTUAL_MODELS))
                await self._stop.wait()
        except Exception as exc:  # the background task's top level: keep serving 503 and say why
            LOG.exception("start-up failed")
            self.phase = "failed"
            self.failure = str(exc)

    def request_stop(self) -> None:
        """SIGTERM: refuse new work from now on and start the drain.

        Runs inside a signal handler, which may interrupt code holding a lock: it only sets the
        phase and hands the rest to the event loop.
        """
        if self.phase == "stopping":
            return
        self.phase = "stopping"
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        LOG.info("stopping: %d requests in flight get %.0f s to finish", len(self.jobs.live()), self.options.drain_s)
        timer = threading.Timer(self.options.drain_s, self.jobs.cancel_all, args=("the server is shutting down",))
        timer.daemon = True
        timer.start()

    async def shut_down(self) -> None:
        """Cancel what still runs, wait for the worker threads, unload every model."""
        self.phase = "stopping"
        cancelled = self.jobs.cancel_all("the server is shutting down")
        self.admission.close()
        self._stop.set()
        if self._background is not None:
            await asyncio.wait([self._background], timeout=SHUTDOWN_JOIN_S)
        stuck = await asyncio.to_thread(self.jobs.join_all, SHUTDOWN_JOIN_S)
        await asyncio.to_thread(self.mind.close)
        left = [m.model for m in self.mind.status().loaded]
        LOG.info("shutdown: cancelled %d requests; models still loaded: %s; %d worker threads stuck",
                 cancelled, ", ".join(left) or "none", len(stuck))


def _not_ready(phase: Phase, failure: str) -> HttpProblem:
    if phase == "starting":
        return HttpProblem(503, "starting", "LiveMind is starting (warming up the router)",
                           "retry in a few seconds; GET /health says when it is ready", retry_after_s=2)
    if phase == "failed":
        return HttpProblem(503, "start_failed", f"LiveMind failed to start: {failure}",
                           "see the server log, fix the cause and restart the server")
    return HttpProblem(503, "stopping", "LiveMind is shutting down", "send the request to another instance or later",
                       retry_after_s=5)


# -- handlers -------------------------------------------------------------------------------

def _check_prompt_length(question: str) -> None:
    if len(question) > QUESTION_CHARS:  # the core's verdict, before a job is admitted: 400 like every bound
        raise HttpProblem(400, "invalid_request_error",
                          f"question is {len(question)} characters, over the limit of {QUESTION_CHARS}",
                          "shorten the messages: the limit counts every chat message folded into one question")


def _job_handlers(service: Service) -> tuple[_Handler, _Handler, _Handler]:
    """The handlers that start jobs: chat completions, consensus and debate."""
    dispatcher = service.dispatcher

    async def chat_completions(request: Request) -> Response:
        received = time.perf_counter()
        service.require_ready()
        body = parse_request(ChatCompletionRequest, await request.body())
        question = question_from_messages(body.messages)
        _check_prompt_length(question)
        options = options_of(body.livemind, max_tokens=body.token_limit, seed=body.seed, temperature=body.temperature)
        plan = await asyncio.to_thread(dispatcher.plan, body.model, question, options)
        planned = time.perf_counter()
        job = dispatcher.start(plan, "chat.completions")
        job.mark("received", received)
        job.mark("planned", planned)
        renderer = OpenAIRenderer(model=body.model, kind=plan.kind, routing=plan.routing,
                                  include_usage=bool(body.stream_options and body.stream_options.include_usage))
        return JobResponse(job, renderer, stream=body.stream)

    async def council(request: Request, model: str, endpoint: str) -> Response:
        service.require_ready()
        body = parse_request(CouncilRequest, await request.body())
        _check_prompt_length(body.question)
        plan = await asyncio.to_thread(dispatcher.plan, model, body.question, options_of(body))
        return JobResponse(dispatcher.start(plan, endpoint), CouncilRenderer(), stream=body.stream)

    async def consensus(request: Request) -> Response:
        return await council(request, "livemind-consensus", "livemind.consensus")

    async def debate(request: Request) -> Response:
        return await council(request, "livemind-debate", "livemind.debate")

    return chat_completions, consensus, debate


def _routes(service: Service, mcp_app: ASGIApp) -> list[Route]:
    chat_completions, consensus, debate = _job_handlers(service)

    async def models(request: Request) -> Response:
        cards = [ModelCard(id=s.name, livemind={"kind": "expert", "model": s.model, "description": s.description})
                 for s in service.mind.config.experts]
        cards += [ModelCard(id=name, livemind={"kind": "virtual", "description": text})
                  for name, text in VIRTUAL_MODELS.items()]
        return JSONResponse(ModelList(data=cards).model_dump(mode="json"))

    async def status(request: Request) -> Response:
        pool = await asyncio.to_thread(service.mind.status)
        return JSONResponse({"phase": service.phase, "pool": pool.model_dump(mode="json"),
                             "queues": [vars(lane) for lane in service.admission.status()],
                             "running_requests": len(service.jobs.live())})

    async def health(request: Request) -> Response:
        if service.phase == "ready":
            return JSONResponse({"status": "ready", "version": __version__})
        problem = _not_ready(service.phase, service.failure)
        return JSONResponse({"status": service.phase, "error": problem.message, "hint": problem.hint},
                            status_code=503, headers=error_headers(problem))

    async def metrics(request: Request) -> Response:
        body = await asyncio.to_thread(service.metrics.render)
        return Response(body, media_type=CONTENT_TYPE)

    return [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/livemind/consensus", consensus, methods=["POST"]),
        Route("/v1/livemind/debate", debate, methods=["POST"]),
        Route("/v1/livemind/code", code_endpoint(service.mind, service.gate, service.require_ready), methods=["POST"]),
        Route("/v1/livemind/status", status, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/mcp", _ReadyGate(service, mcp_app)),  # an ASGI app as endpoint: every method goes to MCP
    ]


class _ReadyGate:
    """Lets requests through to an inner app only while the service is ready."""

    def __init__(self, service: Service, app: ASGIApp) -> None:
        self._service = service
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._service.is_ready():
            await problem_response(_not_ready(self._service.phase, self._service.failure))(scope, receive, send)
            return
        await self._app(scope, receive, send)


class RequestCounter:
    """Counts every HTTP response by method, known path and status (401s and 413s included)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status = 500

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, watching_send)
        finally:
            path = scope.get("path", "")
            self._metrics.count_http(scope.get("method", ""), path if path in KNOWN_PATHS else "other", status)


def create_app(service: Service, *, host: str, api_key: str | None) -> ASGIApp:
    """The whole server as one ASGI app: metrics, auth, size limit, routes, MCP."""
    mind = service.mind
    # MCP tool calls in this process queue in the same lanes and count in the same metrics as HTTP requests
    mcp_server = create_mcp_server(lambda: mind, open_world=any(s.remote is not None for s in mind.config.experts),
                                   gate=service.gate)
    mcp_app = mcp_http_app(mcp_server, host=host, max_body_bytes=service.options.max_body_bytes)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await service.start(mcp_server)
        try:
            yield
        finally:
            await service.shut_down()

    app = Starlette(
        routes=_routes(service, mcp_app),
        lifespan=lifespan,
        exception_handlers={LiveMindError: on_livemind_error, HttpProblem: on_http_problem,
                            HTTPException: on_starlette_http_error},
    )
    guarded = BearerAuth(BodySizeLimit(app, service.options.max_body_bytes), api_key)
    return RequestCounter(guarded, service.metrics)


class _Server(uvicorn.Server):
    """uvicorn, except that SIGTERM/SIGINT start a drain and the process then exits with 0."""

    def __init__(self, config: uvicorn.Config, service: Service) -> None:
        super().__init__(config)
        self._service = service

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # uvicorn re-raises a caught signal after shutting down, which makes the exit status
        # -15; the drain below is the whole shutdown, so the signal is consumed here.
        if self.should_exit:
            self.force_exit = True
            return
        self._service.request_stop()
        self.should_exit = True


def main(settings: EdgeSettings, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
         options: ServeOptions | None = None) -> int:
    """Serve until SIGTERM or Ctrl-C; 0 after a clean shutdown, 2 when LiveMind cannot open."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    options = options or ServeOptions()
    if host not in LOOPBACK_HOSTS and not settings.api_key:
        LOG.error("refusing to serve on %s without LIVEMIND_API_KEY: anyone who can reach it could use it", host)
        return 2
    try:
        mind = open_mind(settings)
    except LiveMindError as exc:
        LOG.error("%s%s", exc.message, f"; {exc.hint}" if exc.hint else "")
        return 2
    service = Service(mind, options)
    app = create_app(service, host=host, api_key=settings.api_key)
    config = uvicorn.Config(app, host=host, port=port, lifespan="on", access_log=False, log_level="info",
                            timeout_graceful_shutdown=int(options.drain_s) + 5)
    server = _Server(config, service)
    LOG.info("serving http://%s:%d (auth %s)", host, port, "on" if settings.api_key else "off")
    server.run()
    # The interpreter's final collection walks the torch and LangGraph heaps: seconds, for
    # memory the process is about to hand back anyway. Frozen objects are left out of it.
    gc.freeze()
    return 1 if service.phase == "failed" else 0
