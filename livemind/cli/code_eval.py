"""`livemind eval --task humaneval`: HumanEval through the best single expert and the council, resumable."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from livemind.environment import read_environment
from livemind.errors import InvalidRequestError
from livemind.evaluation.code.records import GENERATION_METHODS, CodeEvalSettings
from livemind.evaluation.code.report import build_code_report, render_code_markdown, write_code_report
from livemind.evaluation.code.runner import CodeEvalRunner, CodeRun
from livemind.evaluation.code.store import CodeRunStore
from livemind.opening import open_mind

CODE_TASK = "humaneval"
err = Console(stderr=True)


def _names(text: str | None) -> tuple[str, ...] | None:
    names = tuple(n.strip() for n in (text or "").split(",") if n.strip())
    return names or None


def code_settings_from(args: argparse.Namespace) -> CodeEvalSettings:
    """The HumanEval settings a parsed `livemind eval --task humaneval` asks for."""
    given = {"limit": args.n, "pilot_n": args.pilot, "samples": args.samples, "max_tokens": args.max_tokens,
             "temperature": args.temperature, "experts": _names(args.experts), "best_expert": args.best_expert,
             "rounds": args.rounds, "batch": args.batch, "seed": args.seed}
    try:
        return CodeEvalSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0])
        flag = {"pilot_n": "--pilot", "limit": "--n"}.get(field, "--" + field.replace("_", "-"))
        raise InvalidRequestError(f"{flag}: {first['msg']} (got {first.get('input')!r})",
                                  hint="see `livemind eval --help` for the allowed values") from exc


def cmd_code_eval(args: argparse.Namespace) -> int:
    """Run (or resume) HumanEval, then write report.md, report.json and pass_at_1.png into --out."""
    methods = _names(args.methods) or GENERATION_METHODS
    out = Path(args.out)
    if args.report_only:
        return _write(stored_run(CodeRunStore(out), methods), methods, out)
    settings = code_settings_from(args)
    edge = read_environment(config=args.config, ram_budget=args.ram_budget, home=args.home, council=args.council)
    mind = open_mind(edge)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("method runs"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    try:
        with Progress(*columns, console=err, transient=False) as bar:
            task = bar.add_task("eval humaneval", total=None)
            runner = CodeEvalRunner(mind, settings, methods=methods, store=CodeRunStore(out),
                                    on_progress=lambda line: bar.console.print(f"[dim]{line}[/]"),
                                    on_advance=lambda done, total: bar.update(task, completed=done, total=total))
            run = runner.run()
    finally:
        mind.close()
    return _write(run, runner.methods, out)


def _write(run: CodeRun, methods: Sequence[str], out: Path) -> int:
    report = build_code_report(run, methods)
    files = write_code_report(report, out)
    sys.stdout.write(render_code_markdown(report))
    err.print(f"[dim]report: {' · '.join(str(f) for f in files)}[/]")
    return 0


def stored_run(store: CodeRunStore, methods: Sequence[str]) -> CodeRun:
    """What a run folder holds so far (no model is loaded): its plan and every judged method run."""
    plan = store.saved_plan()
    if plan is None:
        raise InvalidRequestError(f"{store.root.parent} holds no HumanEval run with a plan yet",
                                  hint="start one with `livemind eval --task humaneval --out DIR`; the plan is saved "
                                       "when the pilot ends")
    problems = {t: {m: r for m in methods if (r := store.method(t, m)) is not None} for t in plan.scored_ids}
    return CodeRun(plan=plan, problems=problems, parts=tuple(store.parts()), pilot_greedy=store.pilot_greedy(plan))


def add_code_eval_arguments(p: argparse.ArgumentParser) -> None:
    """The flags only `--task humaneval` reads."""
    p.add_argument("--methods", help=f"humaneval: comma-separated generation methods, cheapest first by default "
                                     f"({', '.join(GENERATION_METHODS)}); a resumed run may add methods")
    p.add_argument("--report-only", action="store_true",
                   help="humaneval: no model runs: rebuild the report from what --out holds so far (a run may still "
                        "be going)")
    p.add_argument("--temperature", type=float,
                   help="humaneval: one sampling temperature for the samples and the sampled council (default: "
                        "chosen on the pilot among 0.4 and 0.8)")
