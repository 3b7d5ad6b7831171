"""`livemind models optimize MODEL`: requantize with a progress bar, then compare before and after."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from livemind.engine.catalog import ModelCatalog
from livemind.errors import LiveMindError

COLUMNS = (("file MiB", "file_mib"), ("load s", "load_s"), ("repacked MiB", "repacked_mib"),
           ("prefill tok/s", "prefill_tok_s"), ("decode tok/s", "decode_tok_s"), ("3-seq batch tok/s", "batch3_decode_tok_s"),
           ("peak RSS MiB", "peak_rss_mib"), ("perplexity", "perplexity"), ("KL vs source", "kl_vs_source"),
           ("top-1 = source", "top1_agreement"))


def comparison_table(doc: dict[str, Any]) -> Table:
    """The before/after rows as a rich table."""
    table = Table("copy", *(title for title, _ in COLUMNS), "facts right", "answers = source",
                  title=f"{doc['model']} before and after requantizing ({doc['repeats']} run(s), medians)")
    for label, row in doc["rows"].items():
        table.add_row(label, *(str(row.get(key)) for _, key in COLUMNS),
                      f"{row['facts_correct']}/{doc['fact_questions']}",
                      "-" if label == "source" else f"{row['answers_identical_to_source']}/{doc['fact_questions']}")
    return table


def cmd_optimize(args: argparse.Namespace, catalog: ModelCatalog, out: Console, err: Console) -> int:
    """Quantize args.names[0] to args.type, print where it is and how to use it, then compare unless --no-compare."""
    from livemind.engine.optimize import optimize_model  # the engine loads only in the child process

    if len(args.names) != 1:
        raise LiveMindError("`livemind models optimize` takes one model",
                            hint="e.g. `livemind models optimize smollm2-135m --type q4_0`")
    ref = args.names[0]
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("tensors"),
                  TimeElapsedColumn(), console=err) as progress:
        task = progress.add_task(f"{ref}: quantize to {args.type}", total=None)

        def report(step: str, done: int, total: int) -> None:
            progress.update(task, description=f"{ref}: {step}", completed=done, total=total)

        result = optimize_model(catalog, ref, args.type, force=args.force, progress=report)
    verb = "already there" if result.reused else f"written in {result.seconds:.1f} s"
    err.print(f"{result.output} ({result.output_bytes / 2**20:.1f} MiB, from {result.source_bytes / 2**20:.1f} MiB): {verb}")
    err.print(f'use it in an expert configuration: model = "{result.reference}"')
    doc: dict[str, Any] = {"model": result.model, "type": result.qtype, "output": str(result.output),
                           "reference": result.reference, "reused": result.reused, "seconds": result.seconds}
    if not args.no_compare:
        from livemind.bench.repack import compare

        with tempfile.TemporaryDirectory(prefix="livemind-optimize-") as scratch:
            doc["comparison"] = compare(catalog, ref, (result.qtype,), quick=not args.full, scratch=Path(scratch),
                                        log=lambda message: err.print(f"[dim]{message}[/]"))
        if not args.json:
            out.print(comparison_table(doc["comparison"]))
    if args.json:
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    return 0


def add_optimize_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of `livemind models optimize`."""
    from livemind.engine.optimize import DEFAULT_TYPE, QUANT_TYPES

    p.add_argument("--type", default=DEFAULT_TYPE, choices=sorted(QUANT_TYPES),
                   help=f"optimize: target type (default {DEFAULT_TYPE}, repacked at load on AVX2, NEON dotprod/i8mm and SVE)")
    p.add_argument("--no-compare", action="store_true", help="optimize: skip the before/after comparison")
    p.add_argument("--full", action="store_true", help="optimize: compare with three runs per copy instead of one")
