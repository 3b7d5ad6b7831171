"""`livemind models`: list, pull or verify the embedded default models; optimize one for this CPU."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from livemind.cli.console import err, out, print_json
from livemind.cli.edge import edge_settings
from livemind.cli.optimize import add_optimize_arguments, cmd_optimize
from livemind.engine.catalog import ModelCatalog


def cmd_models(args: argparse.Namespace) -> int:
    """List the catalog, or pull, verify or optimize models with a progress bar."""
    s = edge_settings(args)
    catalog = ModelCatalog(s.home)
    if args.action == "list":
        rows = [{"name": i.name, "kind": i.kind, "present": i.is_present, "size_mib": round(i.size / 2**20, 1),
                 "license": i.license, "path": str(i.path), "description": i.description} for i in catalog.list()]
        if args.json:
            print_json(rows)
        else:
            table = Table("name", "kind", "present", "MiB", "licence", "path")
            for r in rows:
                table.add_row(str(r["name"]), str(r["kind"]), "yes" if r["present"] else "no", f"{r['size_mib']:.0f}",
                              str(r["license"]), str(r["path"]))
            out.print(table)
        return 0
    if args.action == "optimize":
        return cmd_optimize(args, catalog, out, err)
    names = args.names or [e.name for e in catalog.list()]
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=err) as progress:
        for name in names:
            task = progress.add_task(name, total=catalog.entry(name).size)

            def report(step: str, done: int, total: int, task: Any = task, name: str = name) -> None:
                progress.update(task, description=f"{name}: {step}", completed=done, total=total)

            if args.action == "pull":
                path = catalog.pull(name, force=args.force, progress=report)
            else:
                path = catalog.verify(name, progress=report)
            progress.update(task, description=f"{name}: ok")
            err.print(f"{name}: sha256 ok → {path}")
            if args.action == "pull" and catalog.entry(name).kind == "embedding":
                _export_embeddings(path, err)
    return 0


def _export_embeddings(model_dir: Path, err: Console) -> None:
    """Prepare the ONNX copy routing runs on, so the first question does not pay the export."""
    from livemind.council.embeddings import ensure_onnx_export

    with err.status(f"{model_dir.name}: exporting to ONNX for fast routing (about 15 s, once)"):
        try:
            onnx_file = ensure_onnx_export(model_dir)
        except Exception as exc:  # routing still works on torch; say so and go on
            err.print(f"[yellow]{model_dir.name}: ONNX export failed, routing will use torch: {escape(str(exc))}[/]")
            return
    err.print(f"{model_dir.name}: ONNX ready → {onnx_file}")


def add_models_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `models` subcommand."""
    p = sub.add_parser("models", help="list, pull or verify the embedded default models; optimize one for this CPU")
    p.add_argument("action", choices=["list", "pull", "verify", "optimize"])
    p.add_argument("names", nargs="*")
    p.add_argument("--force", action="store_true", help="download (or requantize) again even if present")
    add_optimize_arguments(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)
