"""A HumanEval run kept on disk as it goes: one file per problem and method, so it resumes where it stopped.

    OUT/run/plan.json                        settings, pilot figures, council, expert, temperature (once)
    OUT/run/pilot/HumanEval_N/UNIT.json      the pilot's judged replies (greedy-EXPERT, samples-T0.4, …)
    OUT/run/problems/HumanEval_N/METHOD.json every scored problem's judged candidates, method by method
    OUT/run/parts.json                       each stretch of work: start, machine, seconds, units done
    OUT/run/.locks/                          who is working on what now (never committed: it has a .gitignore)

Files are written whole and renamed into place, so a kill leaves the old file or the new one.

Several processes may work on one folder at once (one per core, say, or `--methods debate,select`
beside the main run). A process takes a problem with an exclusive `flock` on its lock file before
running any of its methods, and another process passes over it while it is held; the lock dies
with its process, so a killed worker never leaves a problem stuck. The plan is made under a lock
too (the pilot runs once), and each process's stretch of work is merged into parts.json under a
lock, so no stretch overwrites another's.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from livemind.evaluation.code.records import Candidate, CodeEvalSettings, CodePlan, MethodRun
from livemind.evaluation.store import read_value, refuse_other_settings, write_value
from livemind.types import Value


class WorkPart(Value):
    """One stretch of work on a run."""

    index: int
    started_at: str
    machine: str
    seconds: float
    units: int  # method runs finished in this stretch
    source: str = ""  # the code that ran it: the git commit, "+changes" when the tree differed from it


def source_version() -> str:
    """The commit of the LiveMind source running now ("+changes" if it was edited), or "" outside a checkout."""
    root = Path(__file__).resolve().parents[3]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "livemind"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{head}+changes" if dirty else head


class WorkParts(Value):
    """parts.json."""

    parts: tuple[WorkPart, ...] = ()


def _folder(task_id: str) -> str:
    return task_id.replace("/", "_")


class CodeRunStore:
    """One HumanEval run's folder."""

    def __init__(self, out_dir: Path) -> None:
        self.root = out_dir / "run"

    def plan(self, settings: CodeEvalSettings) -> CodePlan | None:
        """The saved plan, if this folder holds a run with these settings (an error if other settings)."""
        plan = read_value(self.root / "plan.json", CodePlan)
        if plan is not None:
            refuse_other_settings(plan.settings, settings, f"{self.root.parent} holds a HumanEval run",
                                  "repeat the first command's flags to resume it (only --methods may change), "
                                  "or pass a new --out")
        return plan

    def saved_plan(self) -> CodePlan | None:
        """The saved plan, whatever its settings."""
        return read_value(self.root / "plan.json", CodePlan)

    def save_plan(self, plan: CodePlan) -> None:
        """Record the plan (once, after the pilot)."""
        write_value(self.root / "plan.json", plan)

    def pilot(self, task_id: str, unit: str) -> MethodRun | None:
        """A pilot unit, if done."""
        return read_value(self.root / "pilot" / _folder(task_id) / f"{unit}.json", MethodRun)

    def save_pilot(self, task_id: str, unit: str, run: MethodRun) -> None:
        """Keep a pilot unit."""
        write_value(self.root / "pilot" / _folder(task_id) / f"{unit}.json", run)

    def pilot_greedy(self, plan: CodePlan) -> dict[str, dict[str, Candidate]]:
        """Each pilot problem's greedy candidate per persona, as the pilot kept them."""
        names = [s.name for s in plan.pilot if not s.name.startswith("T=")]
        found: dict[str, dict[str, Candidate]] = {}
        for task_id in plan.pilot_ids:
            for name in names:
                run = self.pilot(task_id, f"greedy-{name}")
                if run is not None and run.candidates:
                    found.setdefault(task_id, {})[name] = run.candidates[0]
        return found

    def method(self, task_id: str, method: str) -> MethodRun | None:
        """One method's judged run on one problem, if done."""
        return read_value(self.root / "problems" / _folder(task_id) / f"{method}.json", MethodRun)

    def save_method(self, task_id: str, run: MethodRun) -> None:
        """Keep one method's judged run on one problem."""
        write_value(self.root / "problems" / _folder(task_id) / f"{run.method}.json", run)

    def parts(self) -> list[WorkPart]:
        """Every stretch of work so far."""
        saved = read_value(self.root / "parts.json", WorkParts)
        return list(saved.parts) if saved else []

    def save_parts(self, parts: list[WorkPart]) -> None:
        """Record the stretches of work."""
        write_value(self.root / "parts.json", WorkParts(parts=tuple(parts)))

    def record_part(self, part: WorkPart) -> WorkPart:
        """Add this process's stretch of work, or update it: merged with what other processes wrote.

        A part whose index is 0 is new: it gets the next free index, which the returned part carries.
        """
        with self._locked("parts"):
            parts = self.parts()
            if part.index == 0:
                part = part.model_copy(update={"index": max((p.index for p in parts), default=0) + 1})
            self.save_parts(sorted([*(p for p in parts if p.index != part.index), part], key=lambda p: p.index))
        return part

    @contextmanager
    def plan_lock(self) -> Iterator[None]:
        """Held while the plan is read or made, so two processes starting together run one pilot."""
        with self._locked("plan"):
            yield

    @contextmanager
    def claim(self, task_id: str) -> Iterator[bool]:
        """Take a problem for this process: yields True when taken, False when another process holds it."""
        fd = os.open(self._lock_path(f"problem-{_folder(task_id)}"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        with open(self._lock_path(name), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _lock_path(self, name: str) -> Path:
        locks = self.root / ".locks"
        if not locks.is_dir():
            locks.mkdir(parents=True, exist_ok=True)
            (locks / ".gitignore").write_text("*\n", encoding="utf-8")
        return locks / name
