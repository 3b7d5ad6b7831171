"""Per-model figures for the embedded defaults: load time, TTFT, decode tok/s, peak RSS.

Run: .venv/bin/python tools/measure_models.py [--runs 3]
Each model is measured in a fresh child process so peak RSS is the model's own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, resource, statistics, sys, time
from pathlib import Path
from livemind.engine.backends.base import LoadTarget
from livemind.engine.backends.llama_cpp import LlamaCppLoader
from livemind.engine.catalog import ModelCatalog
from livemind.types import ChatMessage, EngineSettings, GenerationRequest, SamplingSettings
home, name, runs = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
resolved = ModelCatalog(home).resolve(name)
target = LoadTarget(model=name, path=resolved.path, engine=EngineSettings(), chat_format=resolved.chat_format)
loader = LlamaCppLoader()
estimate = loader.estimate(target).total
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
backend = loader.load(target)
load_s = time.perf_counter() - start
request = GenerationRequest(messages=(ChatMessage(role="user", content="Explain in three sentences why the sky is blue."),),
                            sampling=SamplingSettings(temperature=0.0, max_tokens=64, seed=1))
ttft, rate = [], []
for _ in range(runs):
    c = backend.generate(request)
    ttft.append(c.ttft_s); rate.append(c.decode_tok_s)
print(json.dumps({"model": name, "load_s": round(load_s, 3), "ttft_ms_median": round(statistics.median(ttft) * 1000, 1),
                  "decode_tok_s_median": round(statistics.median(rate), 1),
                  "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "model_rss_mib": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) / 1024, 1),
                  "estimate_mib": round(estimate / 2**20, 1)}))
"""


def main() -> None:
    """Measure each GGUF model of the catalog in its own process and print a table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", default=str(Path.home() / ".cache" / "livemind"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for name in ("smollm2-135m", "gemma3-270m"):
        done = subprocess.run([sys.executable, "-c", CHILD, args.home, name, str(args.runs)], capture_output=True,
                              text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print("| model | load s | TTFT ms (median) | decode tok/s (median) | peak RSS MiB | RSS added by the model MiB |"
          " pool estimate MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['load_s']} | {r['ttft_ms_median']} | {r['decode_tok_s_median']} | "
              f"{r['peak_rss_mib']} | {r['model_rss_mib']} | {r['estimate_mib']} |")


if __name__ == "__main__":
    main()
