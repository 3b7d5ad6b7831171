#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: virtual environment, CPU-specific engine build,
# the livemind package, the embedded default models, and a smoke decode of the engine.
# A second run reuses everything (cached wheel, stamped installs, verified models).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${LIVEMIND_VENV:-$ROOT/.venv}"
export LIVEMIND_HOME="${LIVEMIND_HOME:-$HOME/.cache/livemind}"
PY="$VENV/bin/python"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

if [ ! -x "$PY" ]; then
  step "creating virtual environment $VENV"
  python3 -m venv "$VENV"
  "$PY" -m pip install -q --disable-pip-version-check --upgrade pip
fi

if ! "$PY" -c "import torch" 2>/dev/null; then
  # A CPU build; an unpinned torch would pull a multi-GB CUDA build.
  step "installing torch (CPU build)"
  "$PY" -m pip install --disable-pip-version-check --progress-bar on "torch==2.13.0" \
    || "$PY" -m pip install --disable-pip-version-check --progress-bar on "torch>=2.4,<2.15" --index-url https://download.pytorch.org/whl/cpu
fi

step "engine: llama-cpp-python built for this CPU"
python3 -m native.build --venv "$VENV" >&2  # stdout stays free for the command that follows (e.g. demo --json)

STAMP="$VENV/.livemind-install"
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  step "installing livemind and its dependencies"
  "$PY" -m pip install --disable-pip-version-check -q -e ".[export,bench,dev]"
  echo "$WANT" > "$STAMP"
fi

step "models: embedded defaults (verified by sha256)"
"$VENV/bin/livemind" models pull

SMOKE_STAMP="$VENV/.livemind-smoke"
ENGINE="$(cat "$VENV/livemind-engine.json" 2>/dev/null || echo none)"
if [ ! -f "$SMOKE_STAMP" ] || [ "$(cat "$SMOKE_STAMP")" != "$ENGINE" ]; then
  step "engine smoke decode (a multi-token prompt through the freshly built engine)"
  python3 -m native.smoke --python "$PY" --model "$LIVEMIND_HOME/models/SmolLM2-135M-Instruct.Q4_1.gguf" >&2
  echo "$ENGINE" > "$SMOKE_STAMP"
fi
step "ready: $VENV/bin/livemind"
