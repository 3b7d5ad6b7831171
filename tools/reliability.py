#!/usr/bin/env python3
"""Run LiveMind's fault, load, fuzz and security checks and write the reliability table.

    .venv/bin/python tools/reliability.py            # the CI set (about 6 minutes on 2 cores)
    .venv/bin/python tools/reliability.py --soak     # plus the soak runs (hundreds of requests)
    .venv/bin/python tools/reliability.py --from docs/reliability   # re-render from the committed run

It runs pytest on tests/reliability plus the two existing process-kill tests (SIGKILL mid-debate
and resume: tests/council/test_debate_real.py; SIGTERM drain of a real stream: tests/http/test_http.py),
collects the rows the tests write whatever their outcome (tests/support/recording.py:
LIVEMIND_RELIABILITY_OUT) and the JUnit outcomes, keeps them as raw results in docs/reliability/
(figures.jsonl, junit.xml, run.json) and writes docs/reliability.md from them: faults survived out
of attempted, requests served under load with p50 and p99 and the refusals that carried
Retry-After, bad inputs tried, RSS drift, measured memory against the budget, and data lost.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
RAW = ROOT / "docs" / "reliability"
PYTHON = Path(os.environ.get("LIVEMIND_VENV", ROOT / ".venv")) / "bin" / "python"
SIGKILL_TEST = "tests/council/test_debate_real.py::test_debate_killed_mid_round_resumes_without_redoing_or_losing_rounds"
SIGTERM_TEST = "tests/http/test_http.py::test_sigterm_drains_the_running_stream_unloads_models_and_exits_cleanly"
# What data each check guards: if all of them pass, nothing was lost.
DATA_GUARDS = {
    "finished debate rounds after SIGKILL": [SIGKILL_TEST],
    "answers when the disk is full or read-only": ["test_a_disk_that_fills_up", "test_a_read_only_transcript",
                                                   "test_a_transcript_hitting_a_full_disk"],
    "accepted requests during a SIGTERM drain": ["test_sigterm_lets_running_and_queued_work_finish", SIGTERM_TEST],
    "accepted requests under load": ["test_http_and_mcp_together", "test_real_models_under_load"],
    "answers of finished rounds when later rounds fail": ["test_when_every_expert_drops_in_a_revision_round"],
}


@dataclass
class Outcome:
    """One test's result from the JUnit report."""

    nodeid: str
    status: str  # passed, failed, skipped
    seconds: float
    message: str = ""


@dataclass
class Run:
    """Everything one run produced."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    figures: list[dict[str, object]] = field(default_factory=list)
    seconds: float = 0.0
    command: str = ""
    soak: bool = False
    date: str = ""
    machine: str = ""
    commit: str = ""

    def by_kind(self, kind: str) -> list[dict[str, object]]:
        return [f for f in self.figures if f.get("kind") == kind]

    def status_of(self, fragment: str) -> str:
        found = [o for nodeid, o in self.outcomes.items() if fragment in nodeid]
        if not found:
            return "not run"
        if any(o.status == "failed" for o in found):
            return "failed"
        if all(o.status == "skipped" for o in found):
            return "skipped"
        return "passed"


def run_pytest(out: Path, *, soak: bool, targets: list[str] | None = None, python: Path = PYTHON,
               cwd: Path = ROOT) -> Run:
    """Run the checks; rows go to out/figures.jsonl, outcomes to out/junit.xml, timing and machine to out/run.json."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("figures.jsonl", "junit.xml", "run.json"):
        (out / stale).unlink(missing_ok=True)
    targets = targets or ["tests/reliability", SIGKILL_TEST, SIGTERM_TEST]
    command = [str(python), "-m", "pytest", *targets, "-p", "no:cacheprovider", "-q", "-rfE",
               f"--junitxml={out / 'junit.xml'}"]
    env = {**os.environ, "LIVEMIND_RELIABILITY_OUT": str(out)}
    if soak:
        env["LIVEMIND_SOAK"] = "1"
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=False)
    seconds = time.perf_counter() - started
    meta = {"seconds": round(seconds, 1), "command": " ".join(["-m", "pytest", *command[3:-1]]), "soak": soak,
            "date": dt.date.today().isoformat(), "machine": machine(), "commit": _commit(cwd)}
    (out / "run.json").write_text(json.dumps(meta, indent=1) + "\n")
    return read_run(out)


def _commit(cwd: Path) -> str:
    """The commit the run tested, with '+changes' when the work tree differed from it."""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "livemind", "tests"],
                               cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
        return head + (" +changes" if dirty else "")
    return ""


def read_run(out: Path) -> Run:
    """Read a run's JUnit report, rows and timing."""
    run = Run()
    meta = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
    run.seconds, run.command, run.soak = float(meta.get("seconds", 0.0)), str(meta.get("command", "")), \
        bool(meta.get("soak", False))
    run.date, run.machine, run.commit = str(meta.get("date", "")), str(meta.get("machine", "")), str(meta.get("commit", ""))
    junit = out / "junit.xml"
    for case in ET.parse(junit).getroot().iter("testcase") if junit.exists() else ():
        path = case.get("classname", "").replace(".", "/") + ".py"
        nodeid = f"{path}::{case.get('name')}"
        status, message = "passed", ""
        for tag in ("failure", "error"):
            found = case.find(tag)
            if found is not None:
                status, message = "failed", (found.get("message") or "")[:200]
        if case.find("skipped") is not None and status == "passed":
            status, message = "skipped", (case.find("skipped").get("message") or "")[:200]  # type: ignore[union-attr]
        if status == "failed" or nodeid not in run.outcomes or run.outcomes[nodeid].status != "failed":
            run.outcomes[nodeid] = Outcome(nodeid, status, float(case.get("time", 0.0)), message)
    figures = out / "figures.jsonl"
    if figures.exists():
        run.figures = [json.loads(line) for line in figures.read_text().splitlines() if line.strip()]
    return run


def machine() -> str:
    """Cores, RAM, CPU model and load, as measured now."""
    cores = os.cpu_count() or 0
    memory = ""
    with contextlib.suppress(OSError, StopIteration, ValueError):
        total = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                         if line.startswith("MemTotal")).split()[1]) * 1024
        memory = f", {total / 2**30:.0f} GiB RAM"
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return f"{cores} cores ({model}){memory}; load average {load} when the table was written"


def _mark(status: str) -> str:
    return {"passed": "yes", "failed": "**NO**", "skipped": "skipped (not injected)", "not run": "not run"}[status]


WORSE = {"passed": 0, "skipped": 1, "failed": 2}


def render(run: Run) -> str:
    """docs/reliability.md."""
    passed = sum(1 for o in run.outcomes.values() if o.status == "passed")
    failed = [o for o in run.outcomes.values() if o.status == "failed"]
    skipped = [o for o in run.outcomes.values() if o.status == "skipped"]
    fault_rows = _fault_rows(run)
    guards = {what: _guard(run, tests) for what, tests in DATA_GUARDS.items()
              if all(run.status_of(test) != "not run" for test in tests)}  # a guard that did not run has no row
    commit = f" at commit {run.commit}" if run.commit else ""
    lines = [
        "# Reliability",
        "",
        f"Figures from one run of `tools/reliability.py{' --soak' if run.soak else ''}` on "
        f"{run.date or dt.date.today().isoformat()}{commit}: {run.machine or machine()}. The run took "
        f"{run.seconds / 60:.1f} minutes: {passed} checks passed, {len(failed)} failed, {len(skipped)} skipped. "
        "Every row below comes from the raw results of that run, committed in `docs/reliability/` "
        "(`figures.jsonl`: one line per row, written whatever the check's outcome; `junit.xml`; `run.json`). "
        "Regenerate with `.venv/bin/python tools/reliability.py` (add `--soak` for the long runs); re-render the "
        "committed run with `--from docs/reliability`.",
        "",
        *_summary_table(run, fault_rows, failed, guards),
        "",
        "## Faults injected",
        "",
        "Real: the real server, models, files and signals. Simulated: what the test scripted instead, named. "
        "Every fault check writes its row whether it passed, failed or was skipped; only a pass counts as survived.",
        "",
        "| fault | real or simulated | what the user keeps | survived |",
        "|---|---|---|---|",
        *[f"| {fault} | {kind} | {kept} | {_mark(status)} |" for fault, kind, kept, status in fault_rows],
        "",
        "## Data lost",
        "",
        "| data | lost |",
        "|---|---|",
        *[f"| {what} | {held} |" for what, held in guards.items()],
        "",
        *_bad_input_and_security(run),
    ]
    if failed or skipped:
        lines += ["", "## Not passed", "", "| test | status | why |", "|---|---|---|",
                  *[f"| `{o.nodeid}` | {o.status} | {_cell(o.message)} |" for o in [*failed, *skipped]]]
    lines += ["", f"Command: `{run.command}`", ""]
    return "\n".join(lines)


def _cell(text: str) -> str:
    """One line of text that a Markdown table cell can hold."""
    return (text.splitlines()[0] if text else "").replace("|", "\\|")


def _guard(run: Run, tests: list[str]) -> str:
    """'none' when every check guarding the data passed, else what happened to them."""
    statuses = [run.status_of(test) for test in tests]
    if all(status == "passed" for status in statuses):
        return "none"
    if "failed" in statuses:
        return "**see failures**"
    return "not checked (skipped)"


def _kind_of(fault: dict[str, object]) -> str:
    """"real", or "simulated: what was" as the test declared it (a row without the field says so)."""
    if "simulated" not in fault:
        return "not recorded"
    simulated = str(fault["simulated"])
    return f"simulated: {simulated}" if simulated else "real"


def _fault_rows(run: Run) -> list[tuple[str, str, str, str]]:
    """(fault, real or simulated, what the user keeps, outcome) for every fault check that ran.

    The outcome is the one the check's row was written with, or JUnit's when that is worse (an
    error in a shared fixture's teardown, for instance).
    """
    rows: dict[str, tuple[str, str, str, str]] = {}
    for f in run.by_kind("fault"):
        test = str(f["test"])
        status = str(f.get("outcome", "failed"))
        junit = run.outcomes.get(test)
        if junit is not None and WORSE[junit.status] > WORSE[status]:
            status = junit.status
        rows[test] = (str(f["fault"]), _kind_of(f), str(f["kept"]), status)
    return list(rows.values())


def _summary_table(run: Run, fault_rows: list[tuple[str, str, str, str]], failed: list[Outcome],
                   guards: dict[str, str]) -> list[str]:
    """The headline table: faults, load, bad inputs, RSS, measured memory against the budget and data lost."""
    attempted = len(fault_rows)
    survived = sum(1 for *_, status in fault_rows if status == "passed")
    not_survived = Counter(status for *_, status in fault_rows if status != "passed")
    real = sum(1 for _, kind, *_ in fault_rows if kind == "real")
    loads = {str(f["run"]): f for f in run.by_kind("load")}
    fuzz = run.by_kind("fuzz")
    fuzz_total = sum(int(f["tried"]) for f in fuzz)  # type: ignore[call-overload]
    fuzz_failed = [o for o in failed if "test_fuzz" in o.nodeid]
    lost = [what for what, held in guards.items() if held != "none"]
    missing = ", ".join(f"{n} {status}" for status, n in sorted(not_survived.items()))
    rows = [
        "| what | figure |",
        "|---|---|",
        f"| faults survived / attempted | {survived} / {attempted}"
        f"{f' ({missing})' if missing else ''}; {real} wholly real, {attempted - real} with a simulated part, "
        "named in the fault table |",
    ]
    for key, label in LOAD_RUNS:
        if key in loads:
            rows.append(f"| {label} | {_load_line(loads[key])} |")
    if fuzz:
        rows.append(f"| bad inputs tried | {fuzz_total} generated bodies and tool calls over {len(fuzz)} targets; "
                    f"{'none' if not fuzz_failed else len(fuzz_failed)} got a 5xx, a crash or a hang |")
    for key, label in RSS_RUNS:
        if key in loads:
            rows.append(f"| {label} | {_rss_line(loads[key])} |")
    measured = [line for key, label in BUDGET_RUNS if key in loads
                for line in [f"{label}: {_budget_line(loads[key])}"]]
    if measured:
        rows.append(f"| measured memory against the RAM budget (RSS of the server and its children, sampled every "
                    f"250 ms) | {'; '.join(measured)} |")
    if guards:
        rows.append(f"| data lost | {'none' if not lost else 'CHECK: ' + ', '.join(lost)} |")
    return rows


LOAD_RUNS = (("ci-fake", "requests under load, scripted engine, 6-place lanes (CI)"),
             ("ci-real", "requests under load, real models (CI)"),
             ("ci-real-pressed", "requests under load, real models taking turns under a budget that holds one (CI)"),
             ("soak-fake", "overload soak, scripted engine, 16 clients on 4-place lanes"),
             ("soak-real", "soak, real models"))
RSS_RUNS = (("ci-fake", "RSS, scripted engine, once warm (CI; bound 48 MiB)"),
            ("soak-fake", "RSS, overload soak (bound 32 MiB)"),
            ("ci-real", "RSS, real models, once warm (CI; bound 96 MiB)"),
            ("soak-real", "RSS, real models, from the idle server (soak; bound: the RAM budget)"))
BUDGET_RUNS = (("ci-real", "real models"), ("ci-real-pressed", "real models taking turns"),
               ("soak-real", "real soak"))


def _load_line(f: dict[str, object]) -> str:
    """One load run's requests, refusals and latency, counted from the responses the clients got."""
    refused = int(f["refused_429"]) + int(f["refused_503"])  # type: ignore[call-overload]
    with_retry = f.get("refused_with_retry_after")
    retry = "" if not refused else (
        "; Retry-After not counted in this run" if with_retry is None else f", {with_retry} of them with Retry-After")
    busy = int(f.get("mcp_busy", 0))  # type: ignore[call-overload]
    mcp_busy = f"; {busy} MCP calls told the queue was full ({f.get('mcp_busy_with_retry_after', 0)} saying when to " \
               "retry)" if busy else ""
    errors = f"; **{f['errors']} other errors**" if int(f.get("errors", 0)) else ""  # type: ignore[call-overload]
    return (f"{f['http_clients']} HTTP clients and {f['mcp_calls']} MCP calls, {f['concurrency']} at a time: "
            f"{f['http_served']} and {f['mcp_served']} served, {f['incomplete']} of them incomplete; {refused} "
            f"refusals (429/503){retry}{mcp_busy}{errors}; {f['clients_gave_up']} clients still refused after 4 tries; "
            f"served in p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms{_outcome_note(f)}")


def _outcome_note(f: dict[str, object]) -> str:
    outcome = str(f.get("outcome", "passed"))
    return "" if outcome == "passed" else f" (**the check {outcome}**: {f.get('why', '')})"


def _rss_line(f: dict[str, object]) -> str:
    """One load run's RSS growth and drift."""
    return (f"{float(f['rss_growth_mib']):+.1f} MiB from {f['rss_baseline_mib']} to {f['rss_end_mib']} MiB "  # type: ignore[arg-type]
            f"(peak {f['rss_peak_mib']} MiB, {f['samples']} samples); "
            f"{float(f['rss_drift_after_first_quarter_mib']):+.1f} MiB after the first quarter"  # type: ignore[arg-type]
            f"{_outcome_note(f)}")


def _budget_line(f: dict[str, object]) -> str:
    """Measured RSS above the idle server (before any model loaded) against the RAM budget."""
    above = f.get("rss_peak_above_idle_mib", f.get("rss_peak_above_baseline_mib"))
    if above is None:
        return "no RSS above the idle server measured"
    budget = float(f["budget_mib"])  # type: ignore[arg-type]
    verdict = "≤" if float(above) <= budget else "**>**"  # type: ignore[arg-type]
    extra = f", {f['evictions']} evictions over {f['http_clients']} requests" if "evictions" in f else ""
    return (f"RSS peak {float(above):.1f} MiB above the idle server {verdict} budget {budget:.1f} MiB "  # type: ignore[arg-type]
            f"(the pool's own estimate peaked at {f['pool_peak_mib']} MiB{extra})")


def _token_label(run: Run) -> str:
    """The bearer-token row, with its cases counted from the run (each parametrised case ends -True] or -False])."""
    cases = [nodeid for nodeid in run.outcomes if "only_the_exact_token" in nodeid]
    refused = sum(1 for nodeid in cases if nodeid.endswith("-False]"))
    return (f"only the exact token opens the API and /mcp ({len(cases) - refused} accepted spellings, "
            f"{refused} near misses refused)")


SECURITY_CHECKS = (
    ("default bind 127.0.0.1 (code and the listening socket of a real server)", "bind_loopback_by_default"),
    ("a public bind without LIVEMIND_API_KEY is refused", "refuses_a_public_bind"),
    ("bearer token compared with hmac.compare_digest (read from the code)", "constant_time"),
    ("", "only_the_exact_token"),  # labelled by _token_label
    ("Host/Origin checks on /mcp of `livemind serve` (foreign, rebinding, null origins; foreign hosts)",
     "host_and_origin"),
    ("no request names a file outside the model folders (HTTP model/experts, MCP expert/experts/session/resource)",
     "name_a_file_outside"),
    ("a body over 1 MiB is refused before it is read", "body_over_one_mib"),
    ("prompts are not written to the server log at INFO", "prompts_are_not_written"),
)


def _bad_input_and_security(run: Run) -> list[str]:
    """The bad input and security sections; a check that did not run has no row."""
    fuzz = run.by_kind("fuzz")
    security = run.by_kind("security")
    checks = [(label or _token_label(run), run.status_of(fragment)) for label, fragment in SECURITY_CHECKS]
    return [
        "## Bad input",
        "",
        "Hypothesis-generated (raw bytes, arbitrary JSON, near-valid requests with hostile values: unicode, "
        "20,000-character strings, wrong types, negative and 30-digit numbers, deep nesting, empty messages). "
        "Each must get a 4xx with a message, a 429/503 with Retry-After, or a whole 200; MCP tools a tool error "
        "with a message or a valid result. The server publishes no OpenAPI schema, so schemathesis was not run.",
        "",
        "| target | inputs tried | result |",
        "|---|---|---|",
        *[f"| {f['target']} | {f['tried']} | {_mark(_row_status(run, f))} |" for f in fuzz],
        "",
        "## Security",
        "",
        "| check | result |",
        "|---|---|",
        *[f"| {label} | {_mark(status)} |" for label, status in checks if status != "not run"],
        *[f"| {s['check']}: {s['cases']} cases | {_mark(_row_status(run, s))} |" for s in security],
    ]


def _row_status(run: Run, row: dict[str, object]) -> str:
    """A recorded row's outcome, or JUnit's for its test when that is worse."""
    status = str(row.get("outcome", run.status_of(str(row["test"]))))
    junit = run.outcomes.get(str(row["test"]))
    return junit.status if junit is not None and WORSE[junit.status] > WORSE.get(status, 0) else status


def main() -> int:
    """Run (or re-read) the checks, write docs/reliability.md, print it; 1 when a check failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soak", action="store_true", help="also run the soak tests (marked `soak`)")
    parser.add_argument("--out", type=Path, default=RAW,
                        help=f"where the run's raw results go (default {RAW.relative_to(ROOT)}, committed beside the page)")
    parser.add_argument("--from", dest="source", type=Path, help="render from an earlier run's folder, run nothing")
    parser.add_argument("--doc", type=Path, default=DOC, help=f"the Markdown file to write (default {DOC})")
    args = parser.parse_args()
    if args.source is not None:
        run = read_run(args.source)
    else:
        run = run_pytest(args.out, soak=args.soak)
        print(f"raw results: {args.out}", file=sys.stderr)
    text = render(run)
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(text, encoding="utf-8")
    print(text)
    return 1 if any(o.status == "failed" for o in run.outcomes.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
