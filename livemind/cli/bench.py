"""`livemind bench [--quick] --out DIR`: runs the bench and writes its report, JSON and plots.

An interrupted run resumes: the sections it finished are kept in DIR/bench.partial.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from livemind.config import load_config
from livemind.engine.catalog import ModelCatalog
from livemind.environment import read_environment
from livemind.errors import MissingExtraError

err = Console(stderr=True)


def cmd_bench(args: argparse.Namespace) -> int:
    """Measure, write DIR/report.md, DIR/bench.json and plots, print the headline figures."""
    try:  # matplotlib and the peers load only here
        from livemind.bench import KEYS, BenchOptions, run_bench, write_report
        from livemind.bench.progress import finish
    except ModuleNotFoundError as exc:
        if exc.name != "matplotlib":
            raise
        raise MissingExtraError("matplotlib", "bench", "`livemind bench` (its plots)") from exc

    settings = read_environment(config=args.config, ram_budget=args.ram_budget, home=args.home,
                            council=args.council)
    catalog = ModelCatalog(settings.home)
    config = load_config(settings.config_path, catalog, council=settings.council)
    options = BenchOptions.for_mode(Path(args.out), quick=args.quick, http=not args.no_http)
    if args.runs:
        options = BenchOptions(**{**options.__dict__, "runs": args.runs})
    if args.restart:
        options = BenchOptions(**{**options.__dict__, "restart": True})
    if args.only:
        options = BenchOptions(**{**options.__dict__, "only": tuple(s.strip() for s in args.only.split(",") if s.strip())})
    doc = run_bench(options, config=config, catalog=catalog, home=settings.home, config_path=settings.config_path,
                    log=lambda message: err.print(f"[dim]bench: {message}[/]"))
    paths = write_report(doc, options.out)
    finish(options.out)
    for key in KEYS:
        value = doc.get(key)
        met = doc["targets"][key]["met"]
        mark = "" if met is None else (" ✓" if met else " ✗")
        shown = f"{value:.4g}" if isinstance(value, float) else f"null ({doc['null_reasons'].get(key, '')})"
        sys.stdout.write(f"{key}: {shown}  [target {doc['targets'][key]['target']}]{mark}\n")
    err.print(f"[dim]wrote {', '.join(str(p) for p in paths)} in {doc['duration_s']} s[/]")
    return 0


def add_bench_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `bench` to the CLI."""
    p = subparsers.add_parser("bench", help="measure latency, throughput and memory; write a report with plots")
    p.add_argument("--out", required=True, help="folder for report.md, bench.json and the plots")
    p.add_argument("--quick", action="store_true", help="a smaller run: under a minute on 2 cores")
    p.add_argument("--runs", type=int, help="repetitions of each measurement (default 2 quick, 5 full)")
    p.add_argument("--no-http", action="store_true", help="skip the HTTP comparison (starts two servers)")
    p.add_argument("--only", help="measure just these sections, comma-separated (e.g. revision_lookup,debate_tokens); "
                                  "the other keys are reported as not measured")
    p.add_argument("--restart", action="store_true",
                   help="measure from the start even if --out holds an unfinished run (by default it resumes)")
    p.set_defaults(func=cmd_bench)
