#!/usr/bin/env bash
# LiveMind's counterpart of the ARM-Axion seed's start_consensus_server_safe.sh.
#
#   tools/livemind-server.sh start [serve flags]   # checks RAM and models, starts in the background
#   tools/livemind-server.sh status                # pid, health and RAM of the running server
#   tools/livemind-server.sh stop                  # SIGTERM: running requests drain, models unload
#
# `start` with no flags serves the seed's four ports (`livemind serve --axion-ports`, 8082-8085);
# any flags replace that, e.g. `start --axion-ports 9000 --ram-budget 2GiB` or `start --port 8080`.
# Before starting it reads system RAM the way LiveMind's RAM guard does (cgroup-aware): past the
# hard limit (90 %) it refuses to start; past the soft target (80 %) it warns that councils will
# take turns. Then it checks that every model of the configured council is on disk.
#
# Environment: LIVEMIND_HOME, LIVEMIND_CONFIG, LIVEMIND_COUNCIL, LIVEMIND_RAM_BUDGET and
# LIVEMIND_API_KEY as for `livemind serve`; LIVEMIND_RUN_DIR for the pid file and the log
# (default $LIVEMIND_HOME/run); LIVEMIND_PYTHON (default .venv/bin/python beside this script);
# LIVEMIND_START_TIMEOUT_S (default 300) bounds the wait for /health;
# LIVEMIND_START_RAM_PERCENT replaces the RAM reading, for testing this script only.
#
# Exit status: 0 done; 1 the server failed to start or to stop; 3 refused (RAM over the hard
# limit, a model missing, or already running); 4 not running (status).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${LIVEMIND_PYTHON:-$ROOT/.venv/bin/python}"
HOME_DIR="${LIVEMIND_HOME:-$HOME/.cache/livemind}"
RUN_DIR="${LIVEMIND_RUN_DIR:-$HOME_DIR/run}"
PID_FILE="$RUN_DIR/livemind-server.pid"
PORT_FILE="$RUN_DIR/livemind-server.port"
LOG_FILE="$RUN_DIR/livemind-server.log"
START_TIMEOUT_S="${LIVEMIND_START_TIMEOUT_S:-300}"
HARD_LIMIT=90
SOFT_TARGET=80

say() { printf 'livemind-server: %s\n' "$*"; }
fail() { printf 'livemind-server: %s\n' "$*" >&2; }

running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && { echo "$pid"; return 0; }
  return 1
}

# The port to probe: BASE of --axion-ports (8082 when given bare), else --port, else 8080.
probe_port() {
  local port=8080 previous=""
  for arg in "$@"; do
    if [[ "$previous" == "--axion-ports" ]]; then
      [[ "$arg" =~ ^[0-9]+$ ]] && port="$arg"
    elif [[ "$previous" == "--port" ]]; then
      port="$arg"
    fi
    [[ "$arg" == "--axion-ports" ]] && port=8082
    previous="$arg"
  done
  echo "$port"
}

# RAM and models, checked in the product's own terms; prints what it found, exits 3 on a refusal.
preflight() {
  LIVEMIND_HARD_LIMIT="$HARD_LIMIT" LIVEMIND_SOFT_TARGET="$SOFT_TARGET" PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
    "$PYTHON" - <<'PY'
import os, sys
from livemind.config import load_config
from livemind.engine.catalog import ModelCatalog
from livemind.engine.ram import read_memory
from livemind.environment import read_environment
from livemind.errors import LiveMindError

hard, soft = float(os.environ["LIVEMIND_HARD_LIMIT"]), float(os.environ["LIVEMIND_SOFT_TARGET"])
reading = read_memory()
simulated = os.environ.get("LIVEMIND_START_RAM_PERCENT")
percent = float(simulated) if simulated else reading.percent
source = "simulated by LIVEMIND_START_RAM_PERCENT" if simulated else f"{reading.used / 2**30:.1f} of {reading.total / 2**30:.1f} GiB, {reading.source}"
if percent > hard:
    print(f"refusing to start: system RAM is at {percent:.1f}% ({source}), past the hard limit of {hard:.0f}%. "
          "What to do: stop what else uses memory, or start on a machine with more RAM.", file=sys.stderr)
    sys.exit(3)
print(f"RAM {percent:.1f}% ({source}); hard limit {hard:.0f}%, soft target {soft:.0f}%")
if percent > soft:
    print(f"warning: RAM is past the soft target of {soft:.0f}%: councils will take turns, one model at a time")
try:
    settings = read_environment()
    config = load_config(settings.config_path, ModelCatalog(settings.home), council=settings.council)
except LiveMindError as exc:
    print(f"refusing to start: {exc.message}. What to do: {exc.hint or 'fix the configuration'}", file=sys.stderr)
    sys.exit(3)
models = sorted({e.model for e in config.experts if e.remote is None})
print(f"models present: {', '.join(models)} ({len(config.experts)} experts, council {settings.council})")
PY
}

cmd_start() {
  local pid
  if pid="$(running_pid)"; then
    fail "already running (pid $pid); stop it first with: $0 stop"
    exit 3
  fi
  [[ $# -gt 0 ]] || set -- --axion-ports
  mkdir -p "$RUN_DIR"
  preflight || exit $?
  local port
  port="$(probe_port "$@")"
  say "starting: livemind serve $* (log $LOG_FILE)"
  PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" nohup "$PYTHON" -m livemind.cli.main serve "$@" \
    >"$LOG_FILE" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"
  echo "$port" >"$PORT_FILE"
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until [[ "$(health "$port")" == ready ]]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      fail "the server exited while starting; the end of its log:"
      tail -n 20 "$LOG_FILE" >&2
      rm -f "$PID_FILE" "$PORT_FILE"
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      fail "not ready within ${START_TIMEOUT_S} s; it keeps starting in the background (pid $pid): $0 status"
      exit 1
    fi
    sleep 1  # polling /health: the server says nothing else when it is ready
  done
  say "ready (pid $pid)"
  cmd_status
}

# ready | starting | stopping | failed | down, from GET /health.
health() {
  PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" - "$1" <<'PY' 2>/dev/null || echo down
import json, sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=5) as response:
        print(json.load(response)["status"])
except urllib.error.HTTPError as exc:
    print(json.load(exc).get("status", "down"))
PY
}

cmd_status() {
  local pid port
  if ! pid="$(running_pid)"; then
    say "not running"
    exit 4
  fi
  port="$(cat "$PORT_FILE" 2>/dev/null || echo 8080)"
  say "running (pid $pid), health on port $port: $(health "$port"); log $LOG_FILE"
  grep -E "livemind.http: serving http" "$LOG_FILE" | sed 's/.*serving /  serving /' || true
  PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" - "$port" <<'PY' 2>/dev/null || true
import json, sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v1/livemind/status", timeout=10) as response:
    pool = json.load(response)["pool"]
loaded = ", ".join(m["model"] for m in pool["loaded"]) or "none"
budget = f"{pool['budget_bytes'] // 2**20} MiB" if pool["budget_bytes"] else "none"
print(f"  RAM {pool['ram_percent']:.1f}% (hard limit {pool['hard_limit_percent']:.0f}%, soft target "
      f"{pool['soft_target_percent']:.0f}%), budget {budget}; loaded: {loaded}; refusals {pool['refusals']}")
PY
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    say "not running"
    rm -f "$PID_FILE" "$PORT_FILE"
    return 0
  fi
  say "stopping pid $pid (SIGTERM: running requests drain, then the models unload)"
  kill -TERM "$pid"
  local deadline=$((SECONDS + 90))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      fail "pid $pid still running 90 s after SIGTERM; see $LOG_FILE (kill -KILL $pid ends it)"
      exit 1
    fi
    sleep 0.5  # waiting for another process to exit: no event to wait on from a shell
  done
  rm -f "$PID_FILE" "$PORT_FILE"
  say "stopped; $(grep -E 'shutdown:' "$LOG_FILE" | tail -n 1 | sed 's/.*shutdown: //' || true)"
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  status) cmd_status ;;
  stop) cmd_stop ;;
  *) echo "usage: $0 start [livemind serve flags] | status | stop" >&2; exit 2 ;;
esac
