#!/usr/bin/env bash
# LiveMind's main job on the embedded default models: set up if needed, then a live debate.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/tools/setup.sh"
QUESTION="${1:-Can humans be replaced by AI within 20 years?}"
# --mode parallel: always convene the top experts (auto mode may pick one clear winner)
exec "${LIVEMIND_VENV:-$ROOT/.venv}/bin/livemind" debate "$QUESTION" --mode parallel "${@:2}"
