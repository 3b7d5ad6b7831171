"""`livemind sessions`: list, show, resume or replay the debate sessions kept in SQLite."""

from __future__ import annotations

import argparse

from rich.table import Table

from livemind.cli.console import err, out, print_json, show_result
from livemind.cli.edge import open_mind
from livemind.cli.live_view import DebateView
from livemind.errors import LiveMindError
from livemind.events import result_of


def cmd_sessions(args: argparse.Namespace) -> int:
    """List, show, resume (live tokens) or replay a session."""
    mind = open_mind(args)
    try:
        if args.action == "list":
            records = mind.list_sessions()
            if args.json:
                print_json([{"session_id": r.session_id, "question": r.question, "status": r.status,
                              "created_at": r.created_at} for r in records])
            else:
                table = Table("session", "status", "question")
                for r in records:
                    table.add_row(r.session_id, r.status, r.question[:80])
                out.print(table)
            return 0
        if not args.session_id:
            raise LiveMindError("a session id is needed", hint="run `livemind sessions list` for the ids")
        if args.action == "show":
            record = mind.session(args.session_id)
            if args.json:
                print_json({"session_id": record.session_id, "question": record.question, "status": record.status,
                             "params": record.params,
                             "result": record.result.model_dump(mode="json") if record.result else None})
            elif record.result:
                show_result(record.result, False, mind)
            else:
                out.print(f"{record.session_id}: {record.status} — {record.question}")
            return 0
        view = None if args.json else DebateView(err)
        try:
            if args.action == "resume":
                result = None
                for event in mind.resume(args.session_id):
                    if view is not None:
                        view(event)
                    result = result_of(event) or result
            else:
                result = mind.replay(args.session_id, on_event=view)
        finally:
            if view is not None:
                view.close()
        assert result is not None
        show_result(result, args.json, mind)
        return 0
    finally:
        mind.close()


def add_sessions_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `sessions` subcommand."""
    p = sub.add_parser("sessions", help="list, show, resume or replay debate sessions")
    p.add_argument("action", choices=["list", "show", "resume", "replay"])
    p.add_argument("session_id", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sessions)
