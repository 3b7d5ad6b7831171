"""`livemind eval --persona-vote`: every persona greedy on every question, then the votes of three councils."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from livemind.environment import read_environment
from livemind.errors import InvalidRequestError
from livemind.evaluation.persona_vote import PersonaVoteRunner, PersonaVoteSettings
from livemind.evaluation.persona_vote_report import build_study_report, study_table, write_study
from livemind.opening import open_mind

err = Console(stderr=True)


def persona_settings_from(args: argparse.Namespace) -> PersonaVoteSettings:
    """The study's settings from a parsed `livemind eval --persona-vote` command line."""
    given = {"n": args.n, "max_tokens": args.max_tokens, "pilot_n": args.pilot}
    experts = tuple(n.strip() for n in (args.experts or "").split(",") if n.strip()) or None
    try:
        return PersonaVoteSettings(task=args.task, seed=args.seed, experts=experts, extraction=args.extraction,
                                   batch=args.batch, **{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidRequestError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']} "
                                  f"(got {first.get('input')!r})", hint="see `livemind eval --help`") from exc


def cmd_persona_eval(args: argparse.Namespace) -> int:
    """Run (or resume) the study, write its report into --out and print the table."""
    if args.task == "humaneval":
        raise InvalidRequestError("--persona-vote runs the numeric tasks (arithmetic, word)",
                                  hint="for code, `livemind eval --task humaneval` scores council-greedy against single")
    settings = persona_settings_from(args)
    edge = read_environment(config=args.config, ram_budget=args.ram_budget, home=args.home, council=args.council)
    mind = open_mind(edge)
    out = Path(args.out)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("questions"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    try:
        with Progress(*columns, console=err, transient=False) as bar:
            task = bar.add_task(f"persona vote {settings.task}", total=settings.n)
            runner = PersonaVoteRunner(mind, settings, out, on_progress=lambda line: bar.console.print(f"[dim]{line}[/]"),
                                       on_advance=lambda done, total: bar.update(task, completed=done, total=total))
            plan, questions = runner.run()
    finally:
        mind.close()
    report = build_study_report(plan, questions)
    files = write_study(report, out)
    sys.stdout.write(study_table(report) + "\n")
    err.print(f"[dim]report: {' · '.join(map(str, files))}[/]")
    return 0
