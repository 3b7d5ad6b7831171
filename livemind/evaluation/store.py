"""An eval run kept on disk as it goes, so an interrupted run continues where it stopped.

    OUT/run/plan.json            questions' settings, the council, the chosen expert (written once)
    OUT/run/questions/NNN.json   everything every method produced for question NNN (one file each)
    OUT/run/parts.json           each stretch of work: when it started, how long it ran, how many questions

Files are written whole and then renamed into place, so a kill leaves either the old file or the
new one. A resumed run must ask for the same settings; a different question set needs a new --out.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from livemind.errors import InvalidRequestError
from livemind.evaluation.budget import match_budget
from livemind.evaluation.results import COUNCIL_METHODS, EvalRun, EvalSettings, ExpertChoice, ProblemRun, RunPart
from livemind.evaluation.temperature import TemperatureScore, sampling_temperature
from livemind.types import Value

M = TypeVar("M", bound=BaseModel)


class RunPlan(Value):
    """What a run decided before its first question: settings, council and baseline expert."""

    settings: EvalSettings
    council: tuple[str, ...]
    council_reason: str
    choice: ExpertChoice
    synthesizer: str
    models: dict[str, str]
    pilot_tokens: int
    pilot_seconds: float
    started_at: str
    sc_temperature: float | None = None  # chosen on the pilot when the settings leave it open
    sc_pilot: tuple[TemperatureScore, ...] = ()

    @property
    def sampling_temperature(self) -> float:
        """The temperature self-consistency samples at in this run."""
        return sampling_temperature(self.sc_temperature, self.settings.sc_temperature)


def write_value(path: Path, value: BaseModel) -> None:
    """Write a value as JSON whole, then rename it into place: a kill leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(value.model_dump_json(indent=1), encoding="utf-8")
    os.replace(partial, path)


def refuse_other_settings(saved: BaseModel, wanted: BaseModel, what: str, hint: str) -> None:
    """InvalidRequestError naming every setting that differs, when a resumed run asks for other settings."""
    if saved != wanted:
        theirs = saved.model_dump()
        changed = sorted(k for k, v in wanted.model_dump().items() if theirs.get(k) != v)
        raise InvalidRequestError(f"{what} started with other settings ({', '.join(changed)} differ)", hint=hint)


def read_value(path: Path, kind: type[M]) -> M | None:
    """A value written by `write_value`, or None when the file is not there."""
    if not path.exists():
        return None
    return kind.model_validate_json(path.read_text(encoding="utf-8"))


class PartList(Value):
    """parts.json: the stretches of work so far."""

    parts: tuple[RunPart, ...] = ()


class RunStore:
    """One eval run's folder of per-question results."""

    def __init__(self, out_dir: Path) -> None:
        self.root = out_dir / "run"

    @property
    def _plan_path(self) -> Path:
        return self.root / "plan.json"

    def _question_path(self, index: int) -> Path:
        return self.root / "questions" / f"{index:03d}.json"

    def plan(self, settings: EvalSettings) -> RunPlan | None:
        """The saved plan, if this folder holds a run with these settings (an error if other settings)."""
        plan = read_value(self._plan_path, RunPlan)
        if plan is not None:
            refuse_other_settings(plan.settings, settings, f"{self.root.parent} holds a run",
                                  "repeat the first command's flags to resume it, or pass a new --out to start another run")
        return plan

    def saved_plan(self) -> RunPlan | None:
        """The saved plan, whatever its settings."""
        return read_value(self._plan_path, RunPlan)

    def save_plan(self, plan: RunPlan) -> None:
        """Record the run's plan (once, before the first question)."""
        write_value(self._plan_path, plan)

    def question(self, index: int) -> ProblemRun | None:
        """The saved results of question `index`, if it was finished."""
        return read_value(self._question_path(index), ProblemRun)

    def save_question(self, index: int, run: ProblemRun) -> None:
        """Keep one question's results."""
        write_value(self._question_path(index), run)

    def parts(self) -> list[RunPart]:
        """Every stretch of work so far."""
        saved = read_value(self.root / "parts.json", PartList)
        return list(saved.parts) if saved else []

    def save_parts(self, parts: list[RunPart]) -> None:
        """Record the stretches of work (the current one is updated after each question)."""
        write_value(self.root / "parts.json", PartList(parts=tuple(parts)))

    def reusable_plan(self, settings: EvalSettings, where: str) -> RunPlan:
        """This run's plan for `--reuse`, refused unless it asked the same questions the same way."""
        plan = self.saved_plan()
        if plan is None:
            raise InvalidRequestError(f"{where} holds no eval run (no run/plan.json)",
                                      hint="--reuse takes the --out folder of an earlier `livemind eval`")
        # what may differ: the debate layout, the council's temperature (select samples apart whatever it is),
        # and how answers are batched
        free = {"transcript", "reuse", "batch", "council_temperature"}
        theirs, mine = plan.settings.model_dump(), settings.model_dump()
        changed = sorted(k for k in mine if k not in free and theirs[k] != mine[k])
        if changed:
            raise InvalidRequestError(f"{where} was run with other settings ({', '.join(changed)} differ)",
                                      hint="repeat that run's flags, changing only --transcript, "
                                           "--council-temperature (and --batch)")
        return plan


def finished_run(plan: RunPlan, runs: Sequence[ProblemRun], parts: Sequence[RunPart]) -> EvalRun:
    """The judged run: every question's results and self-consistency matched to each council method's budget."""
    targets = {kind: sum(r.council(kind).reply.tokens for r in runs) for kind in COUNCIL_METHODS}
    sample_tokens = [[a.tokens for a in r.samples] for r in runs]
    sample_prompts = [[a.prompt_tokens for a in r.samples] for r in runs]
    sample_lengths = [[a.prompt_length for a in r.samples] for r in runs]
    budgets = tuple(match_budget(sample_tokens, targets[kind], against=kind, tolerance=plan.settings.tolerance,
                                 sample_prompt_tokens=sample_prompts, sample_prompt_lengths=sample_lengths,
                                 target_prompt_tokens=sum(r.council(kind).reply.prompt_tokens for r in runs))
                    for kind in COUNCIL_METHODS)
    return EvalRun(settings=plan.settings, models=plan.models, choice=plan.choice, council=plan.council,
                   council_reason=plan.council_reason, synthesizer=plan.synthesizer, problems=tuple(runs),
                   budgets=budgets, pilot_tokens=plan.pilot_tokens, pilot_seconds=plan.pilot_seconds,
                   total_seconds=round(sum(p.seconds for p in parts), 1), started_at=plan.started_at,
                   parts=tuple(parts), sc_temperature=plan.sc_temperature, sc_pilot=plan.sc_pilot)
