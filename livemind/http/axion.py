"""`livemind serve --axion-ports [BASE]`: the seed's four servers as four listeners of one process.

    :8082 complete ─┐
    :8083 streaming ─┤  PortRoles (livemind.http.ports) ─▶ the `livemind serve` app ─▶ one Service:
    :8084 council  ──┤                                      one LiveMind, one pool, one RAM guard,
    :8085 safe     ──┘                                      one set of admission lanes and metrics

One uvicorn server listens on the four sockets; the ASGI scope says which port a request came
in on, and its role decides whether it is served (see livemind.http.ports). Start-up, /health,
SIGTERM drain and exit status are those of `livemind serve` (livemind.http.app).
"""

from __future__ import annotations

import gc
import logging
import socket
import sys

import uvicorn

from livemind.environment import EdgeSettings
from livemind.errors import LiveMindError
from livemind.http.app import DEFAULT_HOST, ServeOptions, Service, _Server, create_app
from livemind.http.ports import AXION_BASE_PORT, ROLE_TEXT, PortPlan, PortRoles
from livemind.mcp.server import LOOPBACK_HOSTS
from livemind.orchestrator import LiveMind

LOG = logging.getLogger("livemind.http")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or OSError naming the port that is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def main(settings: EdgeSettings, *, host: str = DEFAULT_HOST, base_port: int = AXION_BASE_PORT,
         options: ServeOptions | None = None) -> int:
    """Serve the four roles until SIGTERM or Ctrl-C; 0 after a clean shutdown, 2 when it cannot start."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    options = options or ServeOptions()
    if host not in LOOPBACK_HOSTS and not settings.api_key:
        LOG.error("refusing to serve on %s without LIVEMIND_API_KEY: anyone who can reach it could use it", host)
        return 2
    sockets: list[socket.socket] = []
    try:
        plan = PortPlan.from_base(base_port)
        for port in plan.ports.values():
            sockets.append(bind(host, port))
    except (ValueError, OSError) as exc:
        for sock in sockets:
            sock.close()
        LOG.error("%s; choose another base with --axion-ports BASE (it uses BASE to BASE+3)", exc)
        return 2
    try:
        mind = LiveMind.open(home=settings.home, config_path=settings.config_path, council=settings.council,
                             ram_budget_bytes=settings.ram_budget_bytes, schedule_mode=settings.scheduler)
    except LiveMindError as exc:
        LOG.error("%s%s", exc.message, f"; {exc.hint}" if exc.hint else "")
        return 2
    service = Service(mind, options)
    app = PortRoles(create_app(service, host=host, api_key=settings.api_key), plan,
                    max_body_bytes=options.max_body_bytes)
    config = uvicorn.Config(app, lifespan="on", access_log=False, log_level="info",
                            timeout_graceful_shutdown=int(options.drain_s) + 5)
    server = _Server(config, service)
    for role, port in plan.ports.items():
        LOG.info("serving http://%s:%d: %s", host, port, ROLE_TEXT[role])
    LOG.info("one process, one pool, one RAM guard (budget %s); auth %s",
             f"{settings.ram_budget_bytes // 2**20} MiB" if settings.ram_budget_bytes else "none",
             "on" if settings.api_key else "off")
    server.run(sockets=sockets)
    gc.freeze()  # as in `livemind serve`: the final collection would only walk heaps about to be handed back
    return 1 if service.phase == "failed" else 0
