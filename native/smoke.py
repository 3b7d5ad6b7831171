"""Prove that the installed engine loads a model and decodes on this CPU.

    python3 -m native.smoke --python .venv/bin/python --model PATH.gguf

The check runs in a child process of the venv's Python: a build that uses
instructions this CPU lacks (SIGILL) or ggml's AMX path where AMX is unusable
(SIGSEGV) kills the child, not the caller. A single-token prompt is not enough to
catch the AMX crash, so the prompt is at least 8 tokens and 8 more are decoded.
"""

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .diagnosis import diagnose
from .home import BOOTSTRAP_PACKAGE
from .marker import read_marker
from .probe import ProbeResult, probe
from .profiles import fallback_profile, rebuild_command, select_profile

MIN_PROMPT_TOKENS = 8
DECODE_TOKENS = 8
DEFAULT_TIMEOUT_SECONDS = 300.0
PROMPT = "The capital of France is Paris. The capital of Italy is Rome. The capital of Germany is"
_IMPORT_FAILED = 3
_STDERR_TAIL_LINES = 15

# Runs inside the venv's Python; prints one JSON line on success.
_CHILD_SCRIPT = r"""
import json, sys, time
try:
    import llama_cpp
except ImportError as error:
    print(json.dumps({"import_error": str(error)}))
    sys.exit(3)
model_path, prompt, n_min, n_out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
system_info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
started = time.monotonic()
llm = llama_cpp.Llama(model_path=model_path, n_ctx=256, n_batch=64, seed=0, verbose=False)
loaded = time.monotonic()
tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True)
if len(tokens) < n_min:
    print(json.dumps({"error": f"prompt has {len(tokens)} tokens, need {n_min}"}))
    sys.exit(2)
out = []
for token in llm.generate(tokens, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
    out.append(token)
    if len(out) >= n_out:
        break
done = time.monotonic()
print(json.dumps({
    "tokens_in": len(tokens),
    "tokens_out": len(out),
    "text": llm.detokenize(out).decode("utf-8", "replace"),
    "token_ids": [int(token) for token in out],
    "system_info": system_info,
    "load_seconds": loaded - started,
    "decode_seconds": done - loaded,
    "version": getattr(llama_cpp, "__version__", "?"),
}))
"""


@dataclass(frozen=True)
class SmokeResult:
    """Outcome of one load-and-decode check of the engine in a venv."""

    ok: bool
    status: str  # "ok", "crashed", "failed", "timeout", "not-installed", "missing-model"
    python: str
    model: str
    profile: str | None
    message: str
    returncode: int | None = None
    signal: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    text: str = ""
    token_ids: tuple[int, ...] = ()
    system_info: str = ""
    seconds: float = 0.0
    rebuild_command: str | None = None
    stderr_tail: str = ""

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-able copy."""
        return asdict(self)


def venv_of(python: Path) -> Path:
    """Return the venv that an interpreter path such as .venv/bin/python belongs to."""
    return python.parent.parent if python.parent.name == "bin" else python.parent


def run_smoke(
    python: Path,
    model: Path,
    *,
    probe_result: ProbeResult | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    decode_tokens: int = DECODE_TOKENS,
) -> SmokeResult:
    """Load `model` with the venv's llama_cpp and greedily decode a few tokens, in a child process.

    `probe_result` is only needed to suggest another profile after a crash; when it
    is None the CPU is probed then. `decode_tokens` (at least 8) sets how many greedy tokens
    come back, e.g. to compare two builds token by token.
    """
    decode_tokens = max(decode_tokens, DECODE_TOKENS)
    venv = venv_of(python)
    marker = read_marker(venv)
    profile = marker.profile if marker else None

    def finish(ok: bool, status: str, message: str, **fields: Any) -> SmokeResult:
        return SmokeResult(ok=ok, status=status, python=str(python), model=str(model), profile=profile, message=message, **fields)

    if not model.is_file():
        return finish(False, "missing-model", f"model file missing: {model}")

    command = [str(python), "-c", _CHILD_SCRIPT, str(model), PROMPT, str(MIN_PROMPT_TOKENS), str(decode_tokens)]
    started = time.monotonic()
    try:
        completed = subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=timeout, check=False)
    except FileNotFoundError:
        return finish(False, "not-installed", f"no Python at {python}")
    except subprocess.TimeoutExpired:
        message = f"load + decode of {model.name} did not finish in {timeout:.0f} s"
        return finish(False, "timeout", message, seconds=timeout)
    seconds = time.monotonic() - started
    stderr_tail = "\n".join(completed.stderr.splitlines()[-_STDERR_TAIL_LINES:])
    report = _last_json_line(completed.stdout)
    returncode = completed.returncode

    if returncode == 0 and "tokens_out" in report:
        tokens_in, tokens_out = int(str(report["tokens_in"])), int(str(report["tokens_out"]))
        ok = tokens_in >= MIN_PROMPT_TOKENS and tokens_out >= DECODE_TOKENS
        message = f"engine ({_describe(profile)}) decoded {tokens_out} tokens after a {tokens_in}-token prompt"
        return finish(ok, "ok" if ok else "failed", message, returncode=0, tokens_in=tokens_in, tokens_out=tokens_out,
                      text=str(report["text"]), token_ids=_token_ids(report.get("token_ids")),
                      system_info=str(report["system_info"]), seconds=seconds,
                      stderr_tail=stderr_tail)
    if returncode == _IMPORT_FAILED and "import_error" in report:
        message = (
            f"llama_cpp cannot be imported by {python}: {report['import_error']}; "
            f"install the engine: python3 -m {BOOTSTRAP_PACKAGE}.build --venv {venv}"
        )
        return finish(False, "not-installed", message, returncode=returncode, seconds=seconds, stderr_tail=stderr_tail)

    status, message, extra = _failure(returncode, report, stderr_tail, profile, probe_result, venv)
    return finish(False, status, message, returncode=returncode, seconds=seconds, stderr_tail=stderr_tail, **extra)


def _token_ids(value: object) -> tuple[int, ...]:
    return tuple(int(token) for token in value) if isinstance(value, list) else ()


def _failure(
    returncode: int,
    report: dict[str, object],
    stderr_tail: str,
    profile: str | None,
    probe_result: ProbeResult | None,
    venv: Path,
) -> tuple[str, str, dict[str, Any]]:
    """Status, message and signal/rebuild fields for a child that crashed or failed, with the profile to rebuild with."""
    cpu = probe_result if probe_result is not None else _probe_now()
    suggestion = fallback_profile(cpu, profile) if profile else select_profile(cpu)
    command_text = rebuild_command(suggestion.name, str(venv))
    if returncode < 0:
        signal_name: str | None = _signal_name(-returncode)
        status = "crashed"
        message = (
            f"the engine crashed with {signal_name} while loading or decoding: the llama-cpp-python build "
            f"({_describe(profile)}) crashes on this CPU. Rebuild it with profile {suggestion.name}:\n"
            f"  {command_text}"
        )
    else:
        signal_name = None
        status = "failed"
        reason = str(report.get("error", "")) or (stderr_tail.splitlines()[-1] if stderr_tail else "no output")
        message = (
            f"the engine ({_describe(profile)}) failed with exit status {returncode}: {reason}. "
            f"If the build is at fault, rebuild it with profile {suggestion.name}:\n  {command_text}"
        )
    return status, message, {"signal": signal_name, "rebuild_command": command_text}


def _describe(profile: str | None) -> str:
    return f"profile {profile}" if profile else "profile unknown: not installed by native.build"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_json_line(stdout: str) -> dict[str, object]:
    for line in reversed(stdout.splitlines()):
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(parsed, dict):
            return parsed
    return {}


def _probe_now() -> ProbeResult:
    with tempfile.TemporaryDirectory(prefix="livemind-probe-") as scratch:
        return probe(Path(scratch))


def main(argv: list[str] | None = None) -> int:
    """Load a model with the venv's engine, decode a few tokens, and report what the build can do."""
    parser = argparse.ArgumentParser(prog=f"python3 -m {__package__}.smoke", description=main.__doc__)
    parser.add_argument("--python", type=Path, required=True, help="the venv's interpreter, e.g. .venv/bin/python")
    parser.add_argument("--model", type=Path, required=True, help="a small GGUF model")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="seconds before giving up")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="livemind-probe-") as scratch:
        cpu = probe(Path(scratch))
    result = run_smoke(args.python, args.model, probe_result=cpu, timeout=args.timeout)
    diagnosis = diagnose(cpu, result.profile, result.system_info, venv=str(venv_of(args.python))) if result.ok else None
    if args.json:
        print(json.dumps({"smoke": result.to_dict(), "diagnosis": diagnosis}, indent=2))
    elif result.ok:
        print(f"ok: {result.message} in {result.seconds:.1f} s: {result.text!r}")
        print(f"engine: {result.system_info.strip()}")
        assert diagnosis is not None
        for line in diagnosis["messages"]:
            print(f"diagnosis: {line}")
    else:
        print(f"error: {result.message}", file=sys.stderr)
        if result.stderr_tail and result.status != "crashed":
            print(result.stderr_tail, file=sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
