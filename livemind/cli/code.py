"""`livemind code TASK`: code consensus on the command line, with a signature, tests, samples, probes and the full evidence."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from rich.markup import escape

from livemind.cli.console import err, print_json
from livemind.cli.edge import open_mind
from livemind.council.code import CodeResult
from livemind.council.code.consensus import LEAD_TEMPERATURE


def _text_or_file(value: str | None) -> str | None:
    """A flag's text, or the contents of the file it names with a leading @."""
    if value and value.startswith("@"):
        return Path(value[1:]).read_text(encoding="utf-8")
    return value


def cmd_code(args: argparse.Namespace) -> int:
    """Run code consensus; the chosen code on stdout, its evidence on stderr (or everything as JSON)."""
    experts = [e.strip() for e in args.experts.split(",") if e.strip()] if args.experts else None
    mind = open_mind(args)
    counts: dict[str, int] = {}
    lock = threading.Lock()
    try:
        with err.status("experts are writing candidates…", spinner="dots") as status:
            def progress(expert: str, _piece: str) -> None:  # engine threads: one line of live token counts
                with lock:
                    counts[expert] = counts.get(expert, 0) + 1
                    line = " · ".join(f"{escape(name)} {n} tokens" for name, n in counts.items())
                status.update(f"experts are writing candidates: {line}")

            result = mind.code(args.question, signature=getattr(args, "signature", None),
                               tests=_text_or_file(getattr(args, "tests", None)), experts=experts,
                               samples=getattr(args, "code_samples", None) or args.samples or 1,
                               temperature=args.temperature if args.temperature is not None else 0.0,
                               seed=args.seed, max_tokens=args.max_tokens, probes=getattr(args, "probes", 0) or 0,
                               lead_samples=args.lead_samples, lead_temperature=args.lead_temperature,
                               on_token=None if args.json else progress)
    finally:
        mind.close()
    if args.json:
        print_json(result.model_dump(mode="json"))
        return 0
    sys.stdout.write(result.answer + "\n")
    show_evidence(result)
    return 0


def show_evidence(result: CodeResult) -> None:
    """The groups, agreement and dissent, on stderr."""
    err.print(f"[bold]agreement {result.agreement:.2f}[/] · chosen from {escape(result.chosen_expert or 'nobody')} · "
              f"{len(result.examples)} examples · {len(result.probes)} probes · {result.tokens} tokens · {result.total_s:.1f} s")
    for g in result.groups:
        err.print(f"  group of {g.size} ({escape(', '.join(g.experts))}): passes {g.examples_passed}/{len(result.examples)}")
    for c in result.candidates:
        if c.failure:
            err.print(f"  [yellow]{escape(c.expert)}: {escape(c.failure)}[/]")
    if result.dissent:
        d = result.dissent
        err.print(f"  dissent: {escape(d.call)} → {escape(d.chosen_output)} (chosen) vs {escape(d.other_output)} "
                  f"({escape(', '.join(d.other_experts))})")
    if result.note:
        err.print(f"  [yellow]note: {escape(result.note)}[/]")


def add_code_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `code` subcommand."""
    p = sub.add_parser("code", help="code consensus: experts write the function, the sandbox runs each, "
                                    "the largest group that behaves alike wins")
    p.add_argument("question", metavar="task")
    p.add_argument("--signature", help="the function to write, e.g. 'def roman_to_int(s: str) -> int:'")
    p.add_argument("--tests", help="assert lines the code must pass (text, or @FILE)")
    p.add_argument("--experts", help="comma-separated expert names (default: the council the router convenes)")
    p.add_argument("--samples", dest="code_samples", type=int, default=1, help="candidates per expert (default 1)")
    p.add_argument("--lead-samples", type=int, default=0,
                   help="more candidates from the first expert, sampled at --lead-temperature (default 0). Every persona "
                        "greedy + the best expert's 4 samples did best on HumanEval: --experts BEST,... --lead-samples 4")
    p.add_argument("--lead-temperature", type=float, default=LEAD_TEMPERATURE,
                   help=f"temperature of the lead's extra samples (default {LEAD_TEMPERATURE})")
    p.add_argument("--probes", type=int, default=0,
                   help="test inputs each expert also writes (0-12, default 0); what candidates return on them groups them")
    p.add_argument("--temperature", type=float, help="sampling temperature (default 0: greedy personas)")
    p.add_argument("--seed", type=int)
    p.add_argument("--max-tokens", type=int, help="per candidate (default 768)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_code, samples=None)
