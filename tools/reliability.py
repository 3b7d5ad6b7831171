#!/usr/bin/env python3
"""Run LiveMind's fault, load, fuzz and security checks and write the reliability table.

    .venv/bin/python tools/reliability.py            # the CI set (about 6 minutes on 2 cores)
    .venv/bin/python tools/reliability.py --soak     # plus the soak runs (hundreds of requests)
    .venv/bin/python tools/reliability.py --from DIR # re-render from an earlier run's DIR

It runs pytest on tests/reliability plus the two existing process-kill tests (SIGKILL mid-debate
and resume: tests/test_debate_real.py; SIGTERM drain of a real stream: tests/interfaces/test_http.py),
collects the figures the tests record (LIVEMIND_RELIABILITY_OUT) and the JUnit outcomes, and
writes docs/reliability.md: faults injected and survived, requests served under load with p50
and p99, bad inputs tried, RSS drift, memory against the budget, and data lost.
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
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
PYTHON = Path(os.environ.get("LIVEMIND_VENV", ROOT / ".venv")) / "bin" / "python"
SIGKILL_TEST = "tests/test_debate_real.py::test_debate_killed_mid_round_resumes_without_redoing_or_losing_rounds"
SIGTERM_TEST = "tests/interfaces/test_http.py::test_sigterm_drains_the_running_stream_unloads_models_and_exits_cleanly"
# Tests outside tests/reliability that inject a fault, and what the user keeps when they pass.
EXTERNAL_FAULTS = {
    SIGKILL_TEST: ("SIGKILL mid-debate (real models), then `sessions resume`",
                   "no finished round lost or redone; the debate finishes"),
    SIGTERM_TEST: ("SIGTERM on `livemind serve` with a real stream in flight",
                   "the stream runs to its end; exit 0; models unloaded"),
}
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


def run_pytest(out: Path, *, soak: bool) -> Run:
    """Run the checks; figures go to out/figures.jsonl, outcomes to out/junit.xml."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("figures.jsonl", "junit.xml"):
        (out / stale).unlink(missing_ok=True)
    targets = ["tests/reliability", SIGKILL_TEST, SIGTERM_TEST]
    command = [str(PYTHON), "-m", "pytest", *targets, "-p", "no:cacheprovider", "-q", "-rfE",
               f"--junitxml={out / 'junit.xml'}"]
    env = {**os.environ, "LIVEMIND_RELIABILITY_OUT": str(out)}
    if soak:
        env["LIVEMIND_SOAK"] = "1"
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=False)
    seconds = time.perf_counter() - started
    (out / "run.json").write_text(json.dumps({"seconds": seconds, "command": " ".join(command[1:]), "soak": soak}))
    return read_run(out)


def read_run(out: Path) -> Run:
    """Read a run's JUnit report, figures and timing."""
    run = Run()
    meta = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
    run.seconds, run.command, run.soak = float(meta.get("seconds", 0.0)), str(meta.get("command", "")), \
        bool(meta.get("soak", False))
    for case in ET.parse(out / "junit.xml").getroot().iter("testcase"):
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
    return {"passed": "yes", "failed": "**NO**", "skipped": "skipped", "not run": "not run"}[status]


def render(run: Run) -> str:
    """docs/reliability.md."""
    passed = sum(1 for o in run.outcomes.values() if o.status == "passed")
    failed = [o for o in run.outcomes.values() if o.status == "failed"]
    skipped = [o for o in run.outcomes.values() if o.status == "skipped"]
    fault_rows = _fault_rows(run)
    guards = {what: all(run.status_of(test) == "passed" for test in tests) for what, tests in DATA_GUARDS.items()}
    lines = [
        "# Reliability",
        "",
        f"Figures from one run of `tools/reliability.py{' --soak' if run.soak else ''}` on "
        f"{dt.date.today().isoformat()}: {machine()}. The run took {run.seconds / 60:.1f} minutes: "
        f"{passed} checks passed, {len(failed)} failed, {len(skipped)} skipped. Regenerate with "
        "`.venv/bin/python tools/reliability.py` (add `--soak` for the long runs).",
        "",
        *_summary_table(run, fault_rows, failed, guards),
        "",
        "## Faults injected",
        "",
        "Real: the real server, models, files and signals. Simulated: what the test scripted instead, named.",
        "",
        "| fault | real or simulated | what the user keeps | survived |",
        "|---|---|---|---|",
        *[f"| {fault} | {kind} | {kept} | {_mark(status)} |" for fault, kind, kept, status in fault_rows],
        "",
        "## Data lost",
        "",
        "| data | lost |",
        "|---|---|",
        *[f"| {what} | {'none' if held else '**see failures**'} |" for what, held in guards.items()],
        "",
        *_bad_input_and_security(run),
    ]
    if failed or skipped:
        lines += ["", "## Not passed", "", "| test | status | why |", "|---|---|---|",
                  *[f"| `{o.nodeid}` | {o.status} | {o.message.splitlines()[0] if o.message else ''} |"
                    for o in [*failed, *skipped]]]
    lines += ["", f"Command: `{run.command}`", ""]
    return "\n".join(lines)


def _kind_of(fault: dict[str, object]) -> str:
    """"real", or "simulated: what was" as the test recorded it (a record without the field says so)."""
    if "simulated" not in fault:
        return "not recorded"
    simulated = str(fault["simulated"])
    return f"simulated: {simulated}" if simulated else "real"


def _fault_rows(run: Run) -> list[tuple[str, str, str, str]]:
    """(fault, real or simulated, what the user keeps, status) for every recorded, external and failed fault test."""
    faults = run.by_kind("fault")
    fault_rows: list[tuple[str, str, str, str]] = [
        (str(f["fault"]), _kind_of(f), str(f["kept"]), run.status_of(str(f["test"]))) for f in faults]
    fault_rows += [(what, "real", kept, run.status_of(nodeid)) for nodeid, (what, kept) in EXTERNAL_FAULTS.items()]
    recorded = {str(f["test"]) for f in faults}
    fault_rows += [(o.nodeid.split("::")[-1].replace("_", " ").removeprefix("test "), "?", "—", o.status)
                   for o in run.outcomes.values() if o.status == "failed" and o.nodeid not in recorded
                   and ("test_faults" in o.nodeid or "test_drain" in o.nodeid)]
    return fault_rows


def _summary_table(run: Run, fault_rows: list[tuple[str, str, str, str]], failed: list[Outcome],
                   guards: dict[str, bool]) -> list[str]:
    """The headline table: faults, load, bad inputs, RSS, memory against the budget and data lost."""
    survived = sum(1 for *_, status in fault_rows if status == "passed")
    real = sum(1 for _, kind, *_ in fault_rows if kind == "real")
    loads = {str(f["run"]): f for f in run.by_kind("load")}
    fuzz = run.by_kind("fuzz")
    fuzz_total = sum(int(f["tried"]) for f in fuzz)  # type: ignore[call-overload]
    fuzz_failed = [o for o in failed if "test_fuzz" in o.nodeid]
    lost = [what for what, held in guards.items() if not held]
    soak = run.soak
    return [
        "| what | figure |",
        "|---|---|",
        f"| faults injected / survived | {len(fault_rows)} / {survived} ({real} real, {len(fault_rows) - real} with a "
        "simulated part, named in the fault table) |",
        f"| requests under load, scripted engine, 6-place lanes (CI) | {_load_line(loads, 'ci-fake', soak)} |",
        f"| requests under load, real models (CI) | {_load_line(loads, 'ci-real', soak)} |",
        f"| overload soak, scripted engine, 16 clients on 4-place lanes | {_load_line(loads, 'soak-fake', soak)} |",
        f"| soak, real models | {_load_line(loads, 'soak-real', soak)} |",
        f"| bad inputs tried | {fuzz_total} generated bodies and tool calls over {len(fuzz)} targets; "
        f"{'none' if not fuzz_failed else len(fuzz_failed)} got a 5xx, a crash or a hang |",
        f"| RSS, scripted engine, once warm (CI; bound 48 MiB) | {_rss_line(loads, 'ci-fake', soak)} |",
        f"| RSS, overload soak (bound 32 MiB) | {_rss_line(loads, 'soak-fake', soak)} |",
        f"| RSS, real models, once warm (CI; bound 96 MiB) | {_rss_line(loads, 'ci-real', soak)} |",
        f"| RSS, real models, from the idle server (soak; bound: the RAM budget) | {_rss_line(loads, 'soak-real', soak)} |",
        f"| measured memory, real models taking turns under a budget that holds one (CI) | "
        f"{_pressed_line(loads.get('ci-real-pressed'))} |",
        f"| memory against the budget, sampled every 250 ms | scripted: {_budget_line(loads, 'ci-fake', soak)}; real models: "
        f"{_budget_line(loads, 'ci-real', soak)}; real soak: {_budget_line(loads, 'soak-real', soak)} |",
        f"| data lost | {'none' if not lost else 'CHECK: ' + ', '.join(lost)} |",
    ]


def _load_line(loads: dict[str, dict[str, object]], key: str, soak: bool) -> str:
    """One load run's requests, refusals and latency, or why there are no figures."""
    f = loads.get(key)
    if f is None:
        return "not run" if key.startswith("soak") and not soak else "no figures (see failures)"
    refused = int(f["refused_429"]) + int(f["refused_503"])  # type: ignore[call-overload]
    return (f"{f['http_clients']} HTTP clients and {f['mcp_calls']} MCP calls, {f['concurrency']} at a time: "
            f"{f['http_served']} and {f['mcp_served']} served, {f['incomplete']} incomplete; {refused} refusals "
            f"(429/503){', all with Retry-After' if refused else ''}; {f['clients_gave_up']} clients still refused "
            f"after 4 tries; served in p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms")


def _rss_line(loads: dict[str, dict[str, object]], key: str, soak: bool) -> str:
    """One load run's RSS growth and drift, or why there are no figures."""
    f = loads.get(key)
    if f is None:
        return "not run" if key.startswith("soak") and not soak else "no figures"
    return (f"{float(f['rss_growth_mib']):+.1f} MiB from {f['rss_baseline_mib']} to {f['rss_end_mib']} MiB "  # type: ignore[arg-type]
            f"(peak {f['rss_peak_mib']} MiB, {f['samples']} samples); "
            f"{float(f['rss_drift_after_first_quarter_mib']):+.1f} MiB after the first quarter")  # type: ignore[arg-type]


def _pressed_line(f: dict[str, object] | None) -> str:
    """Real RSS above the idle server, the pool's estimate and the budget, side by side."""
    if f is None:
        return "no figures (see failures)"
    above = float(f["rss_peak_mib"]) - float(f["rss_baseline_mib"])  # type: ignore[arg-type]
    return (f"RSS peak {above:.1f} MiB above the idle server (process and children); pool estimate peak "
            f"{f['pool_peak_mib']} MiB; budget {f['budget_mib']} MiB; {f['evictions']} evictions over "
            f"{f['http_clients']} requests")


def _budget_line(loads: dict[str, dict[str, object]], key: str, soak: bool) -> str:
    """One load run's pool peak against the RAM budget, or why there are no figures."""
    f = loads.get(key)
    if f is None:
        return "not run" if key.startswith("soak") and not soak else "no figures"
    return f"pool peak {f['pool_peak_mib']} MiB ≤ budget {f['budget_mib']} MiB"


def _token_label(run: Run) -> str:
    """The bearer-token row, with its cases counted from the run (each parametrised case ends -True] or -False])."""
    cases = [nodeid for nodeid in run.outcomes if "only_the_exact_token" in nodeid]
    refused = sum(1 for nodeid in cases if nodeid.endswith("-False]"))
    return (f"only the exact token opens the API and /mcp ({len(cases) - refused} accepted spellings, "
            f"{refused} near misses refused)")


def _bad_input_and_security(run: Run) -> list[str]:
    """The bad input and security sections."""
    fuzz = run.by_kind("fuzz")
    security = run.by_kind("security")
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
        *[f"| {f['target']} | {f['tried']} | {_mark(run.status_of(str(f['test'])))} |" for f in fuzz],
        "",
        "## Security",
        "",
        "| check | result |",
        "|---|---|",
        *[f"| {label} | {_mark(run.status_of(fragment))} |" for label, fragment in (
            ("default bind 127.0.0.1 (code and the listening socket of a real server)", "bind_loopback_by_default"),
            ("a public bind without LIVEMIND_API_KEY is refused", "refuses_a_public_bind"),
            ("bearer token compared with hmac.compare_digest (read from the code)", "constant_time"),
            (_token_label(run), "only_the_exact_token"),
            ("Host/Origin checks on /mcp of `livemind serve` (foreign, rebinding, null origins; foreign hosts)",
             "host_and_origin"),
            ("no request names a file outside the model folders (HTTP model/experts, MCP expert/experts/session/"
             "resource)", "name_a_file_outside"),
            ("caps per request: rounds, experts, max_tokens, prompt size, body size, seed (HTTP, MCP, core)", "caps_"),
            ("prompts are not written to the server log at INFO", "prompts_are_not_written"),
        )],
        *[f"| {s['check']}: {s['cases']} cases | {_mark(run.status_of(str(s['test'])))} |" for s in security],
    ]


def main() -> int:
    """Run (or re-read) the checks, write docs/reliability.md, print it; 1 when a check failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soak", action="store_true", help="also run the soak tests (marked `soak`)")
    parser.add_argument("--out", type=Path, help="where the run's raw results go (default: a temporary folder)")
    parser.add_argument("--from", dest="source", type=Path, help="render from an earlier run's folder, run nothing")
    parser.add_argument("--doc", type=Path, default=DOC, help=f"the Markdown file to write (default {DOC})")
    args = parser.parse_args()
    if args.source is not None:
        run = read_run(args.source)
    else:
        out = args.out or Path(tempfile.mkdtemp(prefix="livemind-reliability-"))
        run = run_pytest(out, soak=args.soak)
        print(f"raw results: {out}", file=sys.stderr)
    text = render(run)
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(text, encoding="utf-8")
    print(text)
    return 1 if any(o.status == "failed" for o in run.outcomes.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
