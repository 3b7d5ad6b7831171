#!/usr/bin/env bash
# LiveMind's main job on the embedded default models: set up if needed, then a live debate.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/tools/setup.sh"
QUESTION="${1:-Can humans be replaced by AI within 20 years?}"
# A debate always convenes a council (the router's top experts, at least two); the default
# council runs on Qwen2.5-Coder-1.5B. `tools/demo.sh "QUESTION" --council tiny` runs the small one.
exec "${LIVEMIND_VENV:-$ROOT/.venv}/bin/livemind" debate "$QUESTION" "${@:2}"
