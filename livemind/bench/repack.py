"""Before and after `livemind models optimize`: quality, tok/s and load time of each copy of a model.

Each model file is measured in its own child process (`python -m livemind.bench.repack`), so
peak RSS and the engine's load log belong to that file alone and a crash costs one row. Rows
alternate their order between repeats; speeds are medians over repeats.

Per file:
- load time (median of three loads, page cache warm) and the engine's own account of the
  weights it repacked: llama.cpp logs a `CPU_REPACK` buffer when its repack kernels take a
  tensor, which is the proof that the faster layout is in use on this CPU;
- prefill tok/s (a long prompt), decode tok/s (one sequence, greedy) and aggregate decode
  tok/s of three sequences in one batch (the personas of a consensus), through LiveMind's
  batch backend with the shipped engine settings;
- quality: perplexity on a fixed English passage; against the source model, the mean KL
  divergence of the next-token distributions and how often the top token is the same; and
  the greedy answers to a fixed set of factual questions: how many contain the right fact,
  and how many are word for word the source's answer.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from livemind.bench.prompts import FACT_QUESTIONS, LONG_PROMPT, PERPLEXITY_TEXT, STORY_PROMPTS
from livemind.engine.backends.base import apply_engine_wait_policy
from livemind.engine.catalog import ModelCatalog
from livemind.engine.optimize import DEFAULT_TYPE, optimize_model

_BUFFER_LINE = re.compile(r"(CPU(?:_REPACK|_Mapped)?) model buffer size\s*=\s*([\d.]+) MiB")


def compare(catalog: ModelCatalog, ref: str, qtypes: Sequence[str] = (DEFAULT_TYPE,), *, quick: bool = False,
            scratch: Path, log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Optimize `ref` into each of `qtypes` (reusing existing copies) and measure every copy against the source."""
    source = catalog.resolve(ref)
    files: dict[str, Path] = {"source": source.path}
    for qtype in qtypes:
        result = optimize_model(catalog, ref, qtype)
        log(f"{'reused' if result.reused else 'wrote'} {result.output.name}")
        files[qtype] = result.output
    scratch.mkdir(parents=True, exist_ok=True)
    reference = scratch / "source-logprobs.npy"
    repeats = 1 if quick else 3
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in files}
    for rep in range(repeats):
        order = list(files) if rep % 2 == 0 else list(reversed(files))
        if rep == 0:  # the source must write its reference distributions before the others compare with them
            order = ["source"] + [label for label in order if label != "source"]
        for label in order:
            log(f"measuring {label} (run {rep + 1}/{repeats})")
            runs[label].append(_measure_in_child(files[label], source.chat_format, reference,
                                                 save=(label == "source" and rep == 0), quick=quick))
    rows = {label: _merge(label, files[label], measured) for label, measured in runs.items()}
    base = rows["source"]
    for label, row in rows.items():
        if label == "source":
            continue
        row["vs_source"] = {key: _ratio(row[key], base[key]) for key in
                            ("load_s", "prefill_tok_s", "decode_tok_s", "batch3_decode_tok_s", "file_mib", "peak_rss_mib")}
        row["answers_identical_to_source"] = sum(a == b for a, b in zip(row.pop("answers"), base["answers"], strict=True))
    base.pop("answers")
    return {"model": ref, "source_file": source.path.name, "repeats": repeats, "quick": quick,
            "fact_questions": len(FACT_QUESTIONS), "rows": rows}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _merge(label: str, path: Path, measured: list[dict[str, Any]]) -> dict[str, Any]:
    first = measured[0]
    row: dict[str, Any] = {"file": path.name, "file_mib": round(path.stat().st_size / 2**20, 1)}
    for key in ("load_s", "prefill_tok_s", "decode_tok_s", "batch3_decode_tok_s", "peak_rss_mib"):
        row[key] = round(statistics.median(m[key] for m in measured), 3)
    for key in ("weight_types", "repacked_mib", "buffers_mib", "perplexity", "kl_vs_source", "top1_agreement",
                "facts_correct", "answers"):
        row[key] = first.get(key)
    return row


def _measure_in_child(path: Path, chat_format: str | None, reference: Path, *, save: bool, quick: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "livemind.bench.repack", str(path), chat_format or "", str(reference),
               "save" if save else "compare", "quick" if quick else "full"]
    env = dict(os.environ)
    apply_engine_wait_policy(env)
    done = subprocess.run(command, capture_output=True, text=True, errors="replace", env=env, timeout=900, check=False)
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-6:])
        raise RuntimeError(f"measuring {path.name} failed (exit {done.returncode}): {tail}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the child --------------------------------------------------------------------------------

def _child(path: Path, chat_format: str | None, reference: Path, save: bool, quick: bool) -> dict[str, Any]:
    import ctypes

    import llama_cpp

    # before the callback below: importing the batch backend installs the engine's own llama.cpp log callback
    import livemind.engine.backends.llama_batch  # noqa: F401

    log: list[str] = []

    @llama_cpp.llama_log_callback
    def keep(_level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        log.append(text.decode("utf-8", "replace"))

    llama_cpp.llama_log_set(keep, ctypes.c_void_p(0))  # `keep` lives as long as this frame: the whole child
    out = _load_figures(path, log)
    out.update(_speed_and_answers(path, chat_format, quick))
    out.update(_quality(path, reference, save))
    rss = _peak_rss_mib()
    out["peak_rss_mib"] = rss
    return out


def _load_figures(path: Path, log: list[str]) -> dict[str, Any]:
    """Median load time of three loads and the weight buffers and types llama.cpp logged while loading."""
    import llama_cpp

    loads = []
    for _ in range(3):
        log.clear()
        t0 = time.perf_counter()
        model = llama_cpp.llama_model_load_from_file(str(path).encode(), llama_cpp.llama_model_default_params())
        loads.append(time.perf_counter() - t0)
        if not model:
            raise SystemExit(f"llama.cpp could not load {path}")
        llama_cpp.llama_model_free(model)
    text = "".join(log)
    buffers: dict[str, float] = {}
    for name, mib in _BUFFER_LINE.findall(text):
        buffers[name] = buffers.get(name, 0.0) + float(mib)
    types = dict(re.findall(r"type\s+(\w+):\s+(\d+) tensors", text))
    return {"load_s": round(statistics.median(loads), 4), "buffers_mib": buffers,
            "repacked_mib": buffers.get("CPU_REPACK", 0.0), "weight_types": {k: int(v) for k, v in types.items()}}


def _speed_and_answers(path: Path, chat_format: str | None, quick: bool) -> dict[str, Any]:
    """Prefill, decode and 3-sequence batch tok/s and the greedy answers to the fact questions, via the batch backend."""
    from livemind.engine.backends.base import LoadTarget
    from livemind.engine.backends.llama_loader import LlamaBatchLoader
    from livemind.types import ChatMessage, EngineSettings, GenerationRequest, SamplingSettings

    out: dict[str, Any] = {}
    engine = EngineSettings.model_validate({})
    target = LoadTarget(model=path.stem, path=path, engine=engine, chat_format=chat_format)
    backend = LlamaBatchLoader().load(target)
    tokens = 24 if quick else 64

    def greedy(prompt: str, n: int) -> GenerationRequest:
        return GenerationRequest(messages=(ChatMessage(role="user", content=prompt),),
                                 sampling=SamplingSettings.model_validate({"temperature": 0.0, "max_tokens": n}))

    try:
        prefill, decode = [], []
        for _ in range(1 if quick else 3):
            backend.forget()
            c = backend.generate(greedy(LONG_PROMPT, tokens))
            prefill.append(c.prompt_tokens / c.ttft_s if c.ttft_s > 0 else 0.0)
            decode.append(c.decode_tok_s)
        out["prefill_tok_s"] = round(statistics.median(prefill), 1)
        out["decode_tok_s"] = round(statistics.median(decode), 1)
        backend.forget()
        stamps: list[float] = []
        done = backend.generate_many([greedy(p, tokens) for p in STORY_PROMPTS[:3]],
                                     on_token=lambda _i, _p: stamps.append(time.perf_counter()))
        stamps.sort()
        decoded = sum(c.completion_tokens for c in done) - 3
        out["batch3_decode_tok_s"] = round(decoded / (stamps[-1] - stamps[2]), 1) if len(stamps) > 3 else None
        answers, correct = [], 0
        for question, expected in FACT_QUESTIONS:
            backend.forget()
            answer = backend.generate(greedy(question, 32)).text
            answers.append(answer)
            correct += any(word.lower() in answer.lower() for word in expected)
        out["answers"], out["facts_correct"] = answers, correct
    finally:
        backend.close()
    return out


def _quality(path: Path, reference: Path, save: bool) -> dict[str, Any]:
    """Perplexity on the fixed passage; KL divergence and top-1 agreement against the source's saved distributions."""
    import llama_cpp
    import numpy as np

    out: dict[str, Any] = {}
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=1024, logits_all=True, verbose=False, n_threads=os.cpu_count())
    try:
        ids = llm.tokenize(PERPLEXITY_TEXT.encode(), add_bos=True)[:1024]
        llm.eval(ids)
        logits = np.asarray(llm.scores[: len(ids) - 1], dtype=np.float64)
    finally:
        llm.close()
    logits -= logits.max(axis=1, keepdims=True)
    logprobs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    nll = -logprobs[np.arange(len(ids) - 1), ids[1:]]
    out["perplexity"] = round(float(np.exp(nll.mean())), 3)
    if save:
        np.save(reference, logprobs.astype(np.float32))
        out["kl_vs_source"], out["top1_agreement"] = 0.0, 1.0
    else:
        ref = np.load(reference).astype(np.float64)
        kl = (np.exp(ref) * (ref - logprobs)).sum(axis=1)
        out["kl_vs_source"] = round(float(kl.mean()), 5)
        out["top1_agreement"] = round(float((ref.argmax(axis=1) == logprobs.argmax(axis=1)).mean()), 4)
    return out


def _peak_rss_mib() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


__all__ = ["compare"]


if __name__ == "__main__":
    model_path, fmt, ref_path, mode, size = sys.argv[1:6]
    result = _child(Path(model_path), fmt or None, Path(ref_path), mode == "save", size == "quick")
    print(json.dumps(result))

