"""The figures behind the default council's choice of model: speed, memory and arithmetic per model.

Run: .venv/bin/python tools/measure_council.py [--models qwen2.5-coder-1.5b,qwen2.5-coder-0.5b] [--n 30]
     [--out docs/councils/measurements.json]

Each model runs in its own child process (peak RSS is the model's own) through the engine the
product uses (multi-sequence llama.cpp, q8_0 KV, flash attention, all cores):
- load time, TTFT and decode tok/s of one answer (median of 3);
- three persona answers decoded as one batch against the same three one after another;
- Du et al.'s arithmetic (`livemind eval`'s seeded test questions), greedy, the mathematician
  persona's prompt, 300 tokens, read by the lenient and the strict extractor; the raw replies are
  kept so the extractor's tests can use real outputs.
A finished model is kept in the output file, so an interrupted run resumes with the next one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from livemind.council.extraction import extract_answer

CHILD = r"""
import json, resource, statistics, sys, time
from pathlib import Path
from livemind.engine.backends.base import LoadTarget
from livemind.engine.backends.llama_loader import LlamaBatchLoader
from livemind.config import load_config
from livemind.council.prompts import first_answer_messages
from livemind.evaluation.tasks import generate_problems
from livemind.council.extraction import extract_answer
from livemind.engine.catalog import ModelCatalog
from livemind.types import EngineSettings, GenerationRequest, SamplingSettings

home, name, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
catalog = ModelCatalog(home)
council = load_config(None, catalog, council="default")
resolved = catalog.resolve(name)
target = LoadTarget(model=name, path=resolved.path, engine=EngineSettings(n_ctx=2048, n_seq_max=4),
                    chat_format=resolved.chat_format)
loader = LlamaBatchLoader()
estimate = loader.estimate(target).total
start = time.perf_counter()
backend = loader.load(target)
load_s = time.perf_counter() - start

def request(spec, question, tokens, temperature=0.0):
    return GenerationRequest(messages=tuple(first_answer_messages(spec, question)),
                             sampling=SamplingSettings(temperature=temperature, max_tokens=tokens, seed=1))

generalist = council.expert("generalist")
single = request(generalist, "Explain in three sentences why the sky is blue.", 64)
ttft, rate = [], []
for _ in range(3):
    c = backend.generate(single)
    ttft.append(c.ttft_s); rate.append(c.decode_tok_s)

personas = [request(council.expert(x), "Can humans be replaced by AI within 20 years?", 96, 0.0)
            for x in ("ethicist", "futurist", "generalist")]
start = time.perf_counter(); seq = [backend.generate(r) for r in personas]; sequential_s = time.perf_counter() - start
start = time.perf_counter(); bat = backend.generate_many(personas); batched_s = time.perf_counter() - start

math = council.expert("mathematician")
problems = generate_problems("arithmetic", n, 0)
replies, started = [], time.perf_counter()
for i in range(0, n, 3):
    chunk = problems[i:i + 3]
    for p, c in zip(chunk, backend.generate_many([request(math, p.prompt, 300) for p in chunk])):
        lenient, strict = extract_answer(c.text), extract_answer(c.text, "strict")
        replies.append({"id": p.id, "question": p.question, "answer": p.answer, "reply": c.text,
                        "tokens": c.completion_tokens, "lenient": lenient.value, "form": lenient.form,
                        "strict": strict.value})
        print(f"{name} {len(replies)}/{n} {'right' if lenient.value == p.answer else 'wrong'}", file=sys.stderr, flush=True)
print(json.dumps({
    "model": name, "load_s": round(load_s, 2), "estimate_mib": round(estimate / 2**20),
    "ttft_ms_median": round(statistics.median(ttft) * 1000), "decode_tok_s_median": round(statistics.median(rate), 1),
    "personas_sequential_s": round(sequential_s, 2), "personas_batched_s": round(batched_s, 2),
    "personas_tokens": sum(c.completion_tokens for c in bat),
    "arithmetic_n": n, "arithmetic_right_lenient": sum(r["lenient"] == r["answer"] for r in replies),
    "arithmetic_right_strict": sum(r["strict"] == r["answer"] for r in replies),
    "arithmetic_unanswered_lenient": sum(r["lenient"] is None for r in replies),
    "arithmetic_wall_s": round(time.perf_counter() - started, 1),
    "arithmetic_mean_tokens": round(sum(r["tokens"] for r in replies) / n, 1),
    "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    "replies": replies,
}))
"""


def main() -> None:
    """Measure each model in its own process; keep finished models in the output file."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", default=str(Path.home() / ".cache" / "livemind"))
    parser.add_argument("--models", default="qwen2.5-coder-1.5b,qwen2.5-coder-0.5b")
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--out", default="docs/councils/measurements.json")
    args = parser.parse_args()
    out = Path(args.out)
    done = json.loads(out.read_text()) if out.exists() else {}
    for name in args.models.split(","):
        if name in done and done[name].get("arithmetic_n") == args.n:
            print(f"{name}: kept from {out}", file=sys.stderr)
            continue
        child = subprocess.run([sys.executable, "-c", CHILD, args.home, name, str(args.n)], stdout=subprocess.PIPE,
                               text=True, check=True)
        done[name] = json.loads(child.stdout)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(done, indent=1, ensure_ascii=False) + "\n")
    for row in done.values():
        _rescore(row)
        print(json.dumps({k: v for k, v in row.items() if k != "replies"}))
    out.write_text(json.dumps(done, indent=1, ensure_ascii=False) + "\n")


def _rescore(row: dict[str, Any]) -> None:
    """Read the kept replies again with the current extractor (a fixed rule needs no new generation)."""
    replies = row["replies"]
    for r in replies:
        lenient, strict = extract_answer(r["reply"]), extract_answer(r["reply"], "strict")
        r.update(lenient=lenient.value, form=lenient.form, strict=strict.value)
    row["arithmetic_right_lenient"] = sum(r["lenient"] == r["answer"] for r in replies)
    row["arithmetic_right_strict"] = sum(r["strict"] == r["answer"] for r in replies)
    row["arithmetic_unanswered_lenient"] = sum(r["lenient"] is None for r in replies)


if __name__ == "__main__":
    main()
