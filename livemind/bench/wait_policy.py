"""The figure behind the engine's OpenMP wait policy: decode step time alone and beside a neighbour.

Each policy runs in child processes (`python -m livemind.bench.wait_policy`), because libgomp
reads its policy once, when it loads. A child loads the model with the shipped engine settings,
reads a short prompt into `width` sequences and times single decode steps through llama.cpp's
own batch API. "beside" starts two children at once on the same cores, the case where a long
spin collapses (two LiveMind processes, or LiveMind next to another llama.cpp server).
"two teams" reads the prompt in the child's main thread and times the steps in a second thread:
two OpenMP teams in one process, as when two models decode in turn, where libgomp throttles the
spin to 100 unless OMP_WAIT_POLICY=ACTIVE.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from livemind.engine.backends.base import ENGINE_SPIN_COUNT

# Each spin with OMP_WAIT_POLICY=ACTIVE, as the default sets it, so no count is throttled to 100 (base.py).
POLICIES: dict[str, dict[str, str]] = {"passive": {"OMP_WAIT_POLICY": "PASSIVE"}} | {
    f"spin {count}" + (" (default)" if count == ENGINE_SPIN_COUNT else ""): {"OMP_WAIT_POLICY": "ACTIVE",
                                                                            "GOMP_SPINCOUNT": count}
    for count in ("100", "1000", "10000")
}
# Two OpenMP teams in one process: the spin alone, and the spin with ACTIVE (the default).
TWO_TEAMS: dict[str, dict[str, str]] = {
    f"spin {ENGINE_SPIN_COUNT}, policy unset": {"GOMP_SPINCOUNT": ENGINE_SPIN_COUNT},
    f"spin {ENGINE_SPIN_COUNT} + ACTIVE (default)": POLICIES[f"spin {ENGINE_SPIN_COUNT} (default)"],
}
_STEPS = 24


def measure(model: Path, *, threads: int, widths: tuple[int, ...] = (1, 3), timeout_s: float = 240.0,
            repeats: int = 3) -> dict[str, Any]:
    """ms per decode step for each policy, alone and with a second copy decoding at the same time.

    Each condition runs `repeats` times, the policies in a rotated order each repeat (so a slow
    moment of the machine does not land on one policy); each figure is the median with min and max.
    """
    out: dict[str, Any] = {"model": model.name, "threads": threads, "steps": _STEPS, "repeats": repeats, "policies": {}}
    names = list(POLICIES)
    alone: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    beside: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    teams: dict[str, list[dict[str, float]]] = {name: [] for name in TWO_TEAMS}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            env = _env(POLICIES[name])
            alone[name].append(_children(1, model, threads, widths, env, timeout_s)[0])
            pair = _children(2, model, threads, widths, env, timeout_s)  # both started together: the same moment
            beside[name].append({w: statistics.mean(b[w] for b in pair) for w in pair[0]})
        for name in list(TWO_TEAMS)[repeat % 2:] + list(TWO_TEAMS)[:repeat % 2]:
            teams[name].append(_children(1, model, threads, widths, _env(TWO_TEAMS[name]), timeout_s, teams=2)[0])
    for name in names:
        out["policies"][name] = {"alone_ms": _spread(alone[name]), "beside_ms": _spread(beside[name])}
    out["two_teams"] = {name: _spread(runs) for name, runs in teams.items()}
    return out


def _env(setting: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")} | setting


def _spread(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per width: the median over runs, plus `<width>_min` and `<width>_max`."""
    out: dict[str, float] = {}
    for width in runs[0]:
        values = [run[width] for run in runs]
        out[width] = round(statistics.median(values), 2)
        out[f"{width}_min"], out[f"{width}_max"] = round(min(values), 2), round(max(values), 2)
    return out


def _children(count: int, model: Path, threads: int, widths: tuple[int, ...], env: dict[str, str],
              timeout_s: float, teams: int = 1) -> list[dict[str, float]]:
    command = [sys.executable, "-m", "livemind.bench.wait_policy", str(model), str(threads), ",".join(map(str, widths)),
               str(teams)]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
             for _ in range(count)]
    results = []
    for proc in procs:
        try:
            stdout, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise RuntimeError(f"a wait-policy child took over {timeout_s:.0f} s") from None
        if proc.returncode != 0:
            raise RuntimeError(f"a wait-policy child failed (exit {proc.returncode})")
        results.append({k: float(v) for k, v in json.loads(stdout).items()})
    return results


def _child(model: str, threads: int, widths: list[int], teams: int = 1) -> dict[str, float]:
    import threading

    import llama_cpp

    from livemind.engine.backends.llama_cpp import KV_TYPE_IDS

    silence = llama_cpp.llama_log_callback(lambda *_a: None)
    llama_cpp.llama_log_set(silence, None)
    loaded = llama_cpp.llama_model_load_from_file(model.encode(), llama_cpp.llama_model_default_params())
    params = llama_cpp.llama_context_default_params()
    params.n_ctx, params.n_batch, params.n_ubatch, params.n_seq_max = 1024, 256, 256, max(widths)
    params.n_threads = params.n_threads_batch = threads
    params.type_k = params.type_v = KV_TYPE_IDS["q8_0"]
    params.flash_attn_type = 1
    ctx = llama_cpp.llama_init_from_model(loaded, params)
    memory = llama_cpp.llama_get_memory(ctx)
    batch = llama_cpp.llama_batch_init(256, 0, max(widths))

    def decode(tokens: list[tuple[int, int, int]]) -> None:
        batch.n_tokens = len(tokens)
        for i, (token, pos, seq) in enumerate(tokens):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
            batch.seq_id[i][0], batch.logits[i] = seq, True
        if llama_cpp.llama_decode(ctx, batch) != 0:
            raise SystemExit("llama_decode failed")

    result = {}

    def timed_steps(width: int) -> None:
        steps = []
        for k in range(_STEPS):
            start = time.perf_counter()
            decode([(200 + k, 32 + k, s) for s in range(width)])
            steps.append((time.perf_counter() - start) * 1000)
        result[str(width)] = round(statistics.median(steps), 2)

    try:
        for width in widths:
            llama_cpp.llama_memory_clear(memory, True)
            decode([(100 + p + s, p, s) for s in range(width) for p in range(32)])  # this thread's team
            if teams == 1:
                timed_steps(width)
            else:  # a second host thread owns a second team; the first stays idle in the process
                worker = threading.Thread(target=timed_steps, args=(width,))
                worker.start()
                worker.join()
    finally:
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(ctx)
        llama_cpp.llama_model_free(loaded)
    return result


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: python -m livemind.bench.wait_policy MODEL THREADS WIDTHS [TEAMS] (run by `livemind bench`)")
    print(json.dumps(_child(sys.argv[1], int(sys.argv[2]), [int(w) for w in sys.argv[3].split(",")],
                            int(sys.argv[4]) if len(sys.argv) == 5 else 1)))
