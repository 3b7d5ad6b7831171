"""`livemind mcp`: LiveMind's consensus tools for coding agents, over stdio or streamable HTTP.

    agent ─ MCP (stdio | POST /mcp) ─▶ MCPServer ─▶ LiveMindTools ─▶ LiveMind (created once, in the lifespan)

Tools: ask, consensus, debate, route, list_experts, status, get_session (see `mcp_tools`).
Resources: `livemind://experts` and `livemind://sessions/{session_id}`; prompts `second_opinion`
and `check_claim` (see `mcp_resources`).

Standalone: `main(settings, http=...)` serves stdio (stdout carries protocol only; logs go to
stderr), or streamable HTTP at http://127.0.0.1:8765/mcp behind `BearerAuth` (when
LIVEMIND_API_KEY is set) and `BodySizeLimit`. The SDK's Host/Origin checks stay on for loopback
hosts (a bad Origin gets 403); a non-loopback host is refused without an API key.

Mounting in another Starlette app (the HTTP server), which owns the LiveMind::

    from contextlib import asynccontextmanager
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from livemind.mcp.server import create_mcp_server, mcp_http_app
    from livemind.orchestrator import LiveMind

    mcp_server = create_mcp_server(lambda: app.state.mind)   # called once, inside session_manager.run()
    mcp_app = mcp_http_app(mcp_server, host="127.0.0.1")     # the bind host; creates mcp_server.session_manager

    @asynccontextmanager
    async def lifespan(app: Starlette):
        app.state.mind = LiveMind(config, home=..., ram_budget_bytes=...)   # first: the provider reads it
        async with mcp_server.session_manager.run():   # Starlette does not run a mounted app's lifespan
            yield
        app.state.mind.close()

    app = Starlette(routes=[*your_routes, Mount("/", app=mcp_app)], lifespan=lifespan)  # Mount last

`mcp_app` keeps its own route at /mcp, so mount it at "/" after your routes (mounting it at
"/mcp" would serve "/mcp/mcp"). Wrap the whole app in `BearerAuth` and `BodySizeLimit` as usual.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette

from livemind.environment import EdgeSettings
from livemind.errors import InvalidRequestError
from livemind.mcp.resources import register_prompts, register_resources
from livemind.mcp.tools import LiveMindTools, MindRef
from livemind.opening import open_mind, settings_config
from livemind.orchestrator import LiveMind
from livemind.server.gate import Gate
from livemind.server.security import DEFAULT_MAX_BODY_BYTES, LOOPBACK_HOSTS, ASGIApp, BearerAuth, BodySizeLimit
from livemind.version import __version__

MindProvider = Callable[[], LiveMind]
MCP_PATH = "/mcp"
INSTRUCTIONS = (
    "LiveMind: local expert models. ask = one expert, fastest; consensus = several answer in parallel, then a "
    "synthesis with agreement and dissent; debate = consensus plus revision rounds, slowest. Call status before "
    "consensus or debate: when RAM is high, prefer experts whose model is loaded (list_experts) or mode='turns'."
)


def create_mcp_server(mind_provider: MindProvider, *, owns_mind: bool = False, open_world: bool = False,
                      gate: Gate | None = None) -> MCPServer:
    """An MCP server over the LiveMind that mind_provider returns when the server's lifespan starts.

    owns_mind: close the LiveMind when the lifespan ends (True when the provider creates it).
    open_world: some experts are remote (`[experts.remote]`), so generating tools reach the network.
    gate: the server's admission and metrics (`livemind serve`): generating tools queue and count with HTTP.
    """
    ref = MindRef()

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[None]:
        mind = await anyio.to_thread.run_sync(mind_provider)  # loads config, pool, graph: not on the loop
        ref.set(mind)
        try:
            yield None
        finally:
            ref.clear()
            if owns_mind:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(mind.close)

    server = MCPServer(name="livemind", title="LiveMind", version=__version__, instructions=INSTRUCTIONS,
                       tools=LiveMindTools(ref, open_world=open_world, gate=gate).tools(), lifespan=lifespan,
                       log_level="WARNING")
    register_resources(server, ref)
    register_prompts(server)
    return server


def mcp_http_app(server: MCPServer, *, host: str = "127.0.0.1",
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Starlette:
    """The streamable HTTP app serving MCP_PATH; its lifespan (or yours) must run server.session_manager.run()."""
    # host decides the SDK's DNS-rebinding guard: on for loopback hosts (Host and Origin checked)
    return server.streamable_http_app(streamable_http_path=MCP_PATH, host=host, max_request_body_size=max_body_bytes)


def build_http_app(server: MCPServer, *, host: str, api_key: str | None,
                   max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> ASGIApp:
    """The standalone HTTP app: bearer token first, then the size limit, then MCP."""
    if host not in LOOPBACK_HOSTS and not api_key:
        raise InvalidRequestError(f"refusing to serve MCP on {host} without a bearer token",
                                  hint="set LIVEMIND_API_KEY, or bind 127.0.0.1")
    app = mcp_http_app(server, host=host, max_body_bytes=max_body_bytes)
    return BearerAuth(BodySizeLimit(app, max_body_bytes), api_key, exempt_paths=())


def main(settings: EdgeSettings, *, http: bool, host: str = "127.0.0.1", port: int = 8765) -> int:
    """Serve MCP on stdio, or on streamable HTTP at http://host:port/mcp; raises LiveMindError on bad setup."""
    config = settings_config(settings)  # fail first: a bad config is reported before the server starts
    server = create_mcp_server(partial(open_mind, settings, config), owns_mind=True,
                               open_world=any(spec.remote is not None for spec in config.experts))
    if not http:
        server.run()  # the SDK points fd 1 at stderr while serving: stray output cannot corrupt the wire
        return 0
    app = build_http_app(server, host=host, api_key=settings.api_key)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, lifespan="on")
    return 0
