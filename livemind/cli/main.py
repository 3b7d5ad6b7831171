"""`livemind`: the command line. Builds objects from flags and environment, calls the core, prints."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.markup import escape

from livemind.cli.bench import add_bench_parser
from livemind.cli.code import add_code_parser
from livemind.cli.console import configure_logging, err, out, print_json, show_result
from livemind.cli.edge import add_edge_flags, edge_settings, open_mind
from livemind.cli.eval import add_eval_parser
from livemind.cli.flags import add_option_flags, options_from
from livemind.cli.live_view import DebateView, routing_table
from livemind.cli.models import add_models_parser
from livemind.cli.sessions import add_sessions_parser
from livemind.engine.scheduler import SCHEDULE_MODES
from livemind.errors import LiveMindError

# -- commands -------------------------------------------------------------------------------

def cmd_ask(args: argparse.Namespace) -> int:
    mind = open_mind(args)
    try:
        if args.json:
            answer = mind.ask(args.question, expert=args.expert, max_tokens=args.max_tokens, seed=args.seed,
                              temperature=args.temperature)
            print_json(answer.model_dump(mode="json"))
            return 0

        def show(piece: str) -> None:
            sys.stdout.write(piece)
            sys.stdout.flush()

        answer = mind.ask(args.question, expert=args.expert, max_tokens=args.max_tokens, seed=args.seed,
                          temperature=args.temperature, on_token=show)
        sys.stdout.write("\n")
        routed_on = answer.routing.routed_on if answer.routing is not None else None
        err.print(f"[dim]{answer.expert} ({answer.model}) · {answer.tokens} tokens · TTFT {answer.ttft_s * 1000:.0f} ms · "
                  f"{answer.tok_s:.1f} tok/s · {answer.total_s:.2f} s"
                  + (f" · mean token log-prob {answer.mean_logprob:.3f}" if answer.mean_logprob is not None else "")
                  + (f" · routed on the translation “{escape(routed_on)}”" if routed_on else "") + "[/]")
        if answer.finish_reason == "length":
            err.print(f"[yellow]cut off at the token limit ({answer.tokens} tokens): pass a larger --max-tokens[/]")
        return 0
    finally:
        mind.close()


def _run_debate(args: argparse.Namespace, *, consensus: bool) -> int:
    options = options_from(args, "cli-consensus" if consensus else "cli-debate")  # refused before models load
    mind = open_mind(args)
    try:
        view = None if args.json else DebateView(err)
        try:
            if consensus:
                result = mind.consensus(args.question, on_event=view, options=options)
            else:
                result = mind.debate(args.question, on_event=view, options=options)
        finally:
            if view is not None:
                view.close()
        show_result(result, args.json, mind)
        return 0
    finally:
        mind.close()


def cmd_debate(args: argparse.Namespace) -> int:
    return _run_debate(args, consensus=False)


def cmd_consensus(args: argparse.Namespace) -> int:
    return _run_debate(args, consensus=True)


def cmd_route(args: argparse.Namespace) -> int:
    mind = open_mind(args)
    try:
        decision = mind.route(args.question, mode=args.mode)
        if args.json:
            print_json(decision.model_dump(mode="json"))
        else:
            out.print(routing_table(decision))
            out.print(f"mode: {decision.mode} · {escape(decision.reason)}")
        return 0
    finally:
        mind.close()


def cmd_status(args: argparse.Namespace) -> int:
    mind = open_mind(args)
    try:
        status = mind.status()
        if args.json:
            print_json(status.model_dump(mode="json"))
            return 0
        mib = 2**20
        out.print(f"RAM {status.ram_used_bytes / mib:.0f} / {status.ram_total_bytes / mib:.0f} MiB "
                  f"({status.ram_percent:.1f}%), hard limit {status.hard_limit_percent:.0f}%, "
                  f"soft target {status.soft_target_percent:.0f}%"
                  + (f", budget {status.budget_bytes / mib:.0f} MiB" if status.budget_bytes else ""))
        out.print(f"warm set: {len(status.loaded)} / {status.max_warm} loaded, idle unload after {status.idle_ttl_s:.0f} s")
        for m in status.loaded:
            state = "generating" if m.is_generating else f"idle {m.idle_s:.0f} s"
            out.print(f"  {m.model}: {m.estimated_bytes / mib:.0f} MiB, {state}, {m.uses} uses")
        return 0
    finally:
        mind.close()


def cmd_doctor(args: argparse.Namespace) -> int:
    from livemind.cli.doctor import run_doctor  # native probe + engine info, only for this command

    return run_doctor(edge_settings(args), as_json=args.json, smoke=not args.no_smoke, console=out)


def cmd_mcp(args: argparse.Namespace) -> int:
    from livemind.mcp.server import main as serve_mcp  # the MCP SDK and uvicorn load only for this command

    return serve_mcp(edge_settings(args), http=args.http, host=args.host, port=args.port)


def cmd_serve(args: argparse.Namespace) -> int:
    if args.axion_ports is not None:
        from livemind.http.axion import main as serve_axion  # starlette, uvicorn and MCP load only for this command

        return serve_axion(edge_settings(args), host=args.host, base_port=args.axion_ports)
    from livemind.http.app import main as serve_http  # starlette, uvicorn and MCP load only for this command

    return serve_http(edge_settings(args), host=args.host, port=args.port)


# -- parser ---------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="livemind", description="Local multi-expert consensus on your CPU.")
    add_edge_flags(parser, default=None)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_council_commands(sub)

    p = sub.add_parser("status", help="RAM, budget and loaded models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("doctor", help="CPU features, engine build profile and SIMD paths, smoke decode")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-smoke", action="store_true", help="skip the smoke decode")
    p.set_defaults(func=cmd_doctor)

    add_code_parser(sub)
    add_models_parser(sub)
    add_sessions_parser(sub)
    _add_server_commands(sub)
    add_eval_parser(sub)
    add_bench_parser(sub)
    for command in sub.choices.values():
        add_edge_flags(command, default=argparse.SUPPRESS)  # only a flag given after the subcommand overrides
    return parser


def _add_council_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ask, debate, consensus and route subcommands."""
    p = sub.add_parser("ask", help="one routed expert answers, streaming tokens")
    p.add_argument("question")
    p.add_argument("--expert", help="answer with this expert instead of routing")
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--temperature", type=float, help="override the expert's temperature (0 = greedy)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of streaming")
    p.set_defaults(func=cmd_ask)

    for name, func, helptext in (("debate", cmd_debate, "experts answer, debate in rounds, then synthesise"),
                                 ("consensus", cmd_consensus,
                                  "one parallel round of answers, then the council's answer (vote by default)")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("question")
        add_option_flags(p, "cli-consensus" if name == "consensus" else "cli-debate")
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=func)

    p = sub.add_parser("route", help="show every expert's routing score for a question")
    p.add_argument("question")
    p.add_argument("--mode", choices=["auto", "single", "parallel", "turns"], default="auto")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_route)


def _add_server_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The mcp and serve subcommands."""
    p = sub.add_parser("mcp", help="serve the MCP tools for coding agents (stdio, or streamable HTTP with --http)")
    p.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp instead of stdio")
    p.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="HTTP port (default 8765)")
    p.add_argument("--scheduler", choices=list(SCHEDULE_MODES), default=None,
                   help="latency (default): a session's batch runs alone with every core; throughput: other "
                        "clients' requests join the running batch at the next token (env LIVEMIND_SCHEDULER)")
    p.set_defaults(func=cmd_mcp)

    p = sub.add_parser("serve", help="serve the OpenAI-compatible HTTP API, council streams, MCP, health and metrics")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; others need LIVEMIND_API_KEY)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--axion-ports", type=int, nargs="?", const=8082, default=None, metavar="BASE",
                   help="the ARM-Axion seed's four servers from one process, one pool and one RAM guard: BASE "
                        "complete answers, BASE+1 streaming, BASE+2 parallel councils, BASE+3 the safe turn-based "
                        "profile (BASE defaults to 8082; --port is then unused). A request a port's role does not "
                        "serve gets a 400 naming the port that does")
    p.add_argument("--scheduler", choices=list(SCHEDULE_MODES), default=None,
                   help="latency (default): a session's batch runs alone with every core; throughput: other "
                        "clients' requests join the running batch at the next token (env LIVEMIND_SCHEDULER)")
    p.set_defaults(func=cmd_serve)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `livemind` command."""
    args = build_parser().parse_args(argv)
    configure_logging(verbose=bool(getattr(args, "verbose", False)))
    try:
        return int(args.func(args))
    except LiveMindError as exc:
        # messages and hints are plain text: "[router]" must print as written, not vanish as markup
        err.print(f"[bold red]error:[/] {escape(exc.message)}")
        if exc.hint:
            err.print(f"[yellow]what to do:[/] {escape(exc.hint)}")
        return 2
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
