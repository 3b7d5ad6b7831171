#!/usr/bin/env bash
# The ARM engine, proven on an x86_64 machine: cross-build llama-cpp-python for the neoverse-n1
# and neoverse-v2 profiles, then run the smoke decode, cpuprobe and `livemind doctor` under
# qemu-aarch64 (-cpu neoverse-n1, -cpu max) and compare greedy tokens with this machine's build.
# Needs tools/setup.sh first (the host venv and SmolLM2); installs the cross toolchain, qemu-user
# and Debian's arm64 Python with apt-get when missing (root). Cached: a second run takes minutes.
#   tools/arm-check.sh [--tokens 32] [--case PROFILE:CPU ...] [--out FILE]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export LIVEMIND_HOME="${LIVEMIND_HOME:-$HOME/.cache/livemind}"
VENV="${LIVEMIND_VENV:-$ROOT/.venv}"
if [ "$(uname -m)" != "x86_64" ]; then
  echo "arm-check emulates aarch64 on x86_64; on an ARM machine run tools/setup.sh and livemind doctor instead" >&2
  exit 2
fi
exec python3 -m native.armcheck --venv "$VENV" --out "${ARM_CHECK_OUT:-$LIVEMIND_HOME/arm64/arm-check.json}" "$@"
