"""Does this engine build reuse llama.cpp's compute graph between tokens (the seed's "captured graphs")?

Each run is a fresh process (llama.cpp reads LLAMA_GRAPH_REUSE_DISABLE when a context is made):
SmolLM2-135M decodes 96 greedy tokens; llama.cpp's own counters give the reused graphs and the
decode time. Runs alternate reuse on / off so a busy machine slows both alike.

Run: .venv/bin/python tools/measure_graph_reuse.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys
import llama_cpp
from livemind.engine.catalog import ModelCatalog
from livemind.environment import read_environment
path = ModelCatalog(read_environment().home).resolve("smollm2-135m").path
llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, n_threads=2, verbose=False)
llm("The history of the printing press", max_tokens=96, temperature=0.0)
perf = llama_cpp.llama_perf_context(llm.ctx)
print(json.dumps({"n_eval": perf.n_eval, "t_eval_ms": perf.t_eval_ms, "n_reused": perf.n_reused}))
"""


def run(reuse: bool) -> dict[str, float]:
    """One fresh process; its decode figures."""
    env = {k: v for k, v in os.environ.items() if k != "LLAMA_GRAPH_REUSE_DISABLE"}
    if not reuse:
        env["LLAMA_GRAPH_REUSE_DISABLE"] = "1"
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=300,
                          check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["ms_per_token"] = figures["t_eval_ms"] / max(figures["n_eval"], 1)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    on, off = [], []
    for _ in range(args.runs):
        on.append(run(True))
        off.append(run(False))
    ratios = [a["ms_per_token"] / b["ms_per_token"] for a, b in zip(on, off, strict=True)]
    print(json.dumps({
        "graphs_reused_per_run": [r["n_reused"] for r in on], "graphs_reused_when_disabled": [r["n_reused"] for r in off],
        "ms_per_token_reuse_on": round(statistics.median(r["ms_per_token"] for r in on), 3),
        "ms_per_token_reuse_off": round(statistics.median(r["ms_per_token"] for r in off), 3),
        "on_over_off_median": round(statistics.median(ratios), 3),
        "on_over_off_min_max": [round(min(ratios), 3), round(max(ratios), 3)],
        "runs": args.runs, "load_average": os.getloadavg(),
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
