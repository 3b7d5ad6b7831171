#!/usr/bin/env bash
# Set up if needed, then run the whole test suite (arguments go to pytest).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/tools/setup.sh"
cd "$ROOT"
exec "${LIVEMIND_VENV:-$ROOT/.venv}/bin/python" -m pytest "$@"
