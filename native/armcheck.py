"""Prove the ARM engine on an x86_64 machine: cross-build it, then run it under qemu-aarch64.

    python3 -m native.armcheck [--venv .venv] [--cache-dir DIR] [--model SmolLM2.gguf]
                               [--tokens 32] [--case PROFILE:QEMU_CPU ...]
                               [--out report.json]

For each case (build profile : qemu CPU model) it
1. cross-compiles llama-cpp-python with the profile (`native.cross`, cached like any wheel);
2. lays out an aarch64 Python 3.11 from Debian's arm64 packages (no root file system, no
   binfmt: `qemu-aarch64 -L <sysroot>` runs the interpreter directly) and a real venv around it
   holding that wheel, the engine marker, and LiveMind's own dependencies as aarch64 wheels;
3. runs `cpuprobe.c`, cross-compiled, under `qemu-aarch64 -cpu <model>`;
4. runs the smoke decode (`native.smoke`) of the model in that venv, checks that
   `llama_print_system_info()` shows every SIMD path the profile promises, and compares its
   greedy tokens with the host engine's for the same prompt;
5. runs `livemind doctor --json --no-smoke` inside the emulated venv and checks it reports
   the profile, the aarch64 features (read from the auxiliary vector qemu hands over) and a
   verdict of "ok" (or "suboptimal" for an older core's build on a newer CPU model).

Speed under emulation means nothing, so none is reported; the wall time of each step is.
The report (JSON) goes to `--out`; the exit status is 0 only if every case passed.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .build import venv_python
from .cross import ensure_cross_wheel
from .diagnosis import diagnose
from .emulation import (
    PY_VERSION,
    STEP_TIMEOUT_SECONDS,
    compile_aarch64_probe,
    ensure_host_tools,
    ensure_site,
    ensure_sysroot,
    make_emulated_venv,
    run_step,
)
from .errors import BuildError, NativeError
from .home import default_home
from .probe import ProbeResult, run_probe
from .profiles import get_profile, select_profile
from .smoke import DECODE_TOKENS, PROMPT, run_smoke

# The two cases, then two that explain a token difference: Neoverse V2 implements SVE with
# 128-bit vectors where qemu's `max` defaults to 512, and the N1 build on `max` shows whether the
# CPU model alone (rather than the SVE/i8mm kernels a V2 build compiles in) changes anything.
DEFAULT_CASES = (
    "neoverse-n1:neoverse-n1",
    "neoverse-v2:max",
    "neoverse-v2:max,sve-default-vector-length=16",
    "neoverse-n1:max",
)
DEFAULT_TOKENS = 32


@dataclass
class CaseReport:
    """One build profile run under one emulated CPU model."""

    profile: str
    cpu: str
    ok: bool = False
    problems: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    wheel: str = ""
    wheel_built: bool = False
    probe: dict[str, Any] = field(default_factory=dict)
    probe_profile: str = ""
    system_info: str = ""
    missing_system_info: list[str] = field(default_factory=list)
    text: str = ""
    tokens_compared: int = 0
    tokens_matching_prefix: int = 0
    first_divergence: dict[str, Any] | None = None
    doctor: dict[str, Any] = field(default_factory=dict)


class _Timer:
    def __init__(self, report: CaseReport | dict[str, float], name: str) -> None:
        self._seconds = report.seconds if isinstance(report, CaseReport) else report
        self._name = name

    def __enter__(self) -> None:
        self._started = time.monotonic()

    def __exit__(self, *_: object) -> None:
        self._seconds[self._name] = round(time.monotonic() - self._started, 1)


def compare_tokens(emulated: tuple[int, ...], host: tuple[int, ...]) -> tuple[int, dict[str, Any] | None]:
    """(length of the common prefix, the first divergence or None)."""
    matching = 0
    for ours, theirs in zip(emulated, host, strict=False):
        if ours != theirs:
            return matching, {"position": matching, "aarch64": ours, "x86_64": theirs}
        matching += 1
    return matching, None


# Runs in the host venv: the logits of two tokens at one position, with the prefix decoded as the smoke
# decode does (the prompt in one batch, then one token at a time), and with everything in one batch.
_MARGIN_SCRIPT = r"""
import json, sys
import llama_cpp
from llama_cpp import Llama
model, prompt, ids, a, b = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
llm = Llama(model_path=model, n_ctx=256, n_batch=64, seed=0, verbose=False)
prompt_tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True)
found = {}
for mode in ("as the smoke decode", "in one batch"):
    llm.reset()
    if mode == "in one batch":
        llm.eval(prompt_tokens + ids)
    else:
        llm.eval(prompt_tokens)
        for token in ids:
            llm.eval([token])
    row = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)  # the last decoded position (logits_all stays off)
    logits = [float(row[i]) for i in range(llm.n_vocab())]
    best = max(range(len(logits)), key=logits.__getitem__)
    found[mode] = {"aarch64_token": logits[a], "x86_64_token": logits[b], "best": best}
print(json.dumps(found))
"""


def divergence_margin(host_python: Path, model: Path, host_ids: tuple[int, ...], divergence: dict[str, Any]) -> dict[str, Any]:
    """How far apart the two builds' choices are in the host build's own logits, decoded two ways."""
    position = int(divergence["position"])
    out = run_step(
        [
            str(host_python),
            "-c",
            _MARGIN_SCRIPT,
            str(model),
            PROMPT,
            json.dumps(list(host_ids[:position])),
            str(divergence["aarch64"]),
            str(divergence["x86_64"]),
        ],
        timeout=600,
    )
    found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return {mode: {**f, "x86_64_minus_aarch64": round(f["x86_64_token"] - f["aarch64_token"], 4)} for mode, f in found.items()}


def run_case(
    spec: str,
    *,
    home: Path,
    host_venv: Path,
    model: Path,
    tokens: int,
    host_ids: tuple[int, ...],
    qemu: str,
    sysroot: Path,
    site: Path,
    probe_binary: Path,
    out: TextIO,
) -> CaseReport:
    """Build, lay out and check one `profile:cpu` case."""
    profile_name, _, cpu = spec.partition(":")
    profile = get_profile(profile_name)
    report = CaseReport(profile=profile.name, cpu=cpu or "max")
    work = home / "arm64"
    try:
        with _Timer(report, "cross_build"):
            wheel, built = ensure_cross_wheel(profile, home, venv_python(host_venv), out=out)
        report.wheel, report.wheel_built = str(wheel), built
        venv = work / f"venv-{profile.name}-{report.cpu}"
        launcher = make_emulated_venv(venv, sysroot, site, wheel, profile, qemu, report.cpu, work / "home")

        with _Timer(report, "probe"):
            probe_result: ProbeResult = run_probe(probe_binary, runner=(qemu, "-cpu", report.cpu))
        report.probe = dict(probe_result)
        report.probe_profile = select_profile(probe_result).name

        out.write(f"[{spec}] smoke decode of {model.name} ({tokens} tokens) under qemu\n")
        out.flush()
        with _Timer(report, "smoke"):
            smoke = run_smoke(launcher, model, probe_result=probe_result, timeout=STEP_TIMEOUT_SECONDS, decode_tokens=tokens)
        if not smoke.ok:
            report.problems.append(f"smoke: {smoke.message} {smoke.stderr_tail[-500:]}")
            return report
        report.system_info, report.text = smoke.system_info.strip(), smoke.text
        diagnosis = diagnose(probe_result, profile.name, smoke.system_info, venv=str(venv))
        shown = set(diagnosis["engine"]["flags"])
        report.missing_system_info = [flag for flag in profile.expected_system_info if flag not in shown]
        if report.missing_system_info:
            report.problems.append(f"llama_print_system_info lacks {', '.join(report.missing_system_info)}")
        report.tokens_compared = min(len(smoke.token_ids), len(host_ids))
        report.tokens_matching_prefix, report.first_divergence = compare_tokens(smoke.token_ids, host_ids)

        out.write(f"[{spec}] livemind doctor under qemu\n")
        out.flush()
        with _Timer(report, "doctor"):
            # doctor exits 1 when the build is not the CPU's best (an N1 build on a V2): its JSON still says why
            ran = subprocess.run(
                [str(launcher), "-m", "livemind.cli.main", "doctor", "--json", "--no-smoke"],
                capture_output=True,
                text=True,
                timeout=STEP_TIMEOUT_SECONDS,
                check=False,
            )
        if ran.returncode not in (0, 1) or not ran.stdout.strip().startswith("{"):
            raise BuildError(f"livemind doctor under qemu failed (exit status {ran.returncode}):\n{ran.stderr[-1500:]}")
        doctor = json.loads(ran.stdout)
        report.doctor = {
            "probe_source": doctor["probe"]["source"],
            "arch": doctor["probe"]["arch"],
            "recommended_profile": doctor["profile"]["name"],
            "installed_profile": (doctor["installed"] or {}).get("profile"),
            "verdict": doctor["diagnosis"]["verdict"],
            "engine": doctor["engine"]["system_info"],
        }
        if report.doctor["installed_profile"] != profile.name:
            report.problems.append(f"doctor reports installed profile {report.doctor['installed_profile']}")
        if report.doctor["arch"] != "aarch64":
            report.problems.append(f"doctor probed arch {report.doctor['arch']}")
        if report.doctor["recommended_profile"] != report.probe_profile:
            report.problems.append(
                f"doctor recommends {report.doctor['recommended_profile']}, cpuprobe picks {report.probe_profile}"
            )
        # A build for an older core on a newer CPU is "suboptimal" (paths left unused), never unsafe.
        expected = "ok" if profile.name == report.probe_profile else "suboptimal"
        if report.doctor["verdict"] != expected:
            report.problems.append(f"doctor's verdict is {report.doctor['verdict']}, expected {expected}")
    except NativeError as error:
        report.problems.append(str(error))
    except (subprocess.TimeoutExpired, json.JSONDecodeError, KeyError) as error:
        report.problems.append(f"{type(error).__name__}: {error}")
    report.ok = not report.problems
    return report


def run_check(*, home: Path, host_venv: Path, model: Path, tokens: int, cases: list[str], out: TextIO) -> dict[str, Any]:
    """Every case, with the host engine's greedy tokens as the reference."""
    started = time.monotonic()
    seconds: dict[str, float] = {}
    with _Timer(seconds, "host_tools"):
        qemu = ensure_host_tools(out)
    work = home / "arm64"
    with _Timer(seconds, "sysroot"):
        sysroot = ensure_sysroot(work / "sysroot", out)
    with _Timer(seconds, "dependencies"):
        site = ensure_site(work / f"site-cp{PY_VERSION.replace('.', '')}", venv_python(host_venv), out)
    probe_binary = compile_aarch64_probe(work / "probe")
    out.write(f"host reference: {tokens} greedy tokens of {model.name} with {host_venv}'s engine\n")
    out.flush()
    with _Timer(seconds, "host_smoke"):
        host = run_smoke(venv_python(host_venv), model, decode_tokens=tokens)
    if not host.ok:
        raise BuildError(f"the host engine's smoke decode failed: {host.message}")
    reports = [
        run_case(spec, home=home, host_venv=host_venv, model=model, tokens=tokens, host_ids=host.token_ids,
                 qemu=qemu, sysroot=sysroot, site=site, probe_binary=probe_binary, out=out)
        for spec in cases
    ]  # fmt: skip
    divergences = [report.first_divergence for report in reports if report.first_divergence]
    margin = divergence_margin(venv_python(host_venv), model, host.token_ids, divergences[0]) if divergences else None
    return {
        "ok": all(report.ok for report in reports),
        "first_divergence_in_host_logits": margin,
        "model": model.name,
        "tokens": tokens,
        "host": {"system_info": host.system_info.strip(), "text": host.text, "profile": host.profile},
        "qemu": run_step([qemu, "--version"]).splitlines()[0],
        "seconds": {**seconds, "total": round(time.monotonic() - started, 1)},
        "cases": [asdict(report) for report in reports],
    }


def _summary(result: dict[str, Any]) -> list[str]:
    lines = []
    for case in result["cases"]:
        state = "ok" if case["ok"] else "FAILED"
        lines.append(f"{case['profile']} under -cpu {case['cpu']}: {state}")
        if case["system_info"]:
            lines.append(f"  engine: {case['system_info']}")
        if case["probe"]:
            on = [name for name, value in case["probe"]["features"].items() if value]
            lines.append(f"  cpuprobe: {' '.join(on)} -> profile {case['probe_profile']}")
        if case["tokens_compared"]:
            divergence = case["first_divergence"]
            lines.append(
                f"  greedy tokens: {case['tokens_matching_prefix']}/{case['tokens_compared']} equal to the x86 build"
                + (f", first difference at {divergence['position']}" if divergence else "")
            )
        if case["doctor"]:
            doctor = case["doctor"]
            lines.append(
                f"  doctor: arch {doctor['arch']} (probe {doctor['probe_source']}), installed {doctor['installed_profile']},"
                f" recommends {doctor['recommended_profile']}, verdict {doctor['verdict']}"
            )
        lines.extend(f"  problem: {problem}" for problem in case["problems"])
        lines.append(f"  seconds: {case['seconds']}")
    margin = result.get("first_divergence_in_host_logits")
    if margin:
        for mode, found in margin.items():
            lines.append(
                f"host logits at the first difference, prefix decoded {mode}: x86 token {found['x86_64_token']:.3f}, "
                f"aarch64 token {found['aarch64_token']:.3f} (best: token {found['best']})"
            )
    lines.append(f"total {result['seconds']['total']:.0f} s ({result['seconds']})")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Cross-build the ARM engine and prove it decodes under qemu-aarch64."""
    parser = argparse.ArgumentParser(prog=f"python3 -m {__package__}.armcheck", description=main.__doc__)
    parser.add_argument(
        "--venv", type=Path, default=Path(".venv"), help="the host venv: its pip builds, its engine is the reference"
    )
    parser.add_argument("--cache-dir", type=Path, help="LiveMind cache directory (default: $LIVEMIND_HOME or ~/.cache/livemind)")
    parser.add_argument("--model", type=Path, help="GGUF to decode (default: the cached SmolLM2-135M-Instruct)")
    parser.add_argument("--tokens", type=int, default=DEFAULT_TOKENS, help=f"greedy tokens to compare (at least {DECODE_TOKENS})")
    parser.add_argument("--case", action="append", help="PROFILE:QEMU_CPU (default: " + ", ".join(DEFAULT_CASES) + ")")
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    args = parser.parse_args(argv)
    home = args.cache_dir or default_home(os.environ)
    model = args.model or home / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not model.is_file():
        sys.stderr.write(f"error: no model at {model}; run tools/setup.sh first or pass --model\n")
        return 1
    try:
        result = run_check(home=home, host_venv=args.venv, model=model, tokens=args.tokens,
                           cases=args.case or list(DEFAULT_CASES), out=sys.stdout)  # fmt: skip
    except NativeError as error:
        sys.stderr.write(f"error: {error}\n")
        return 1
    for line in _summary(result):
        print(line)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
