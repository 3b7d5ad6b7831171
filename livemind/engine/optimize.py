"""`livemind models optimize`: requantize a GGUF into a type llama.cpp repacks for this CPU.

llama.cpp's CPU backend rearranges some weight types at load time into the interleaved layouts
its fastest kernels read (the "CPU_REPACK" buffer): Q4_0 into 8x8 blocks for AVX2 and for
SVE with i8mm, 4x8 for NEON with i8mm and 4x4 for NEON with dotprod; IQ4_NL and Q4_K likewise
on some CPUs. Q4_0 and Q8_0 also have batched (gemm) kernels in tinyBLAS. A model shipped in
another type (SmolLM2 comes as Q4_1) gets none of that. This module writes a copy in a
repack-friendly type through llama.cpp's own `llama_model_quantize`, in a child process (a
crash in the engine cannot take the caller down), with a progress bar fed by llama.cpp's
per-tensor log lines. The copy is written to a `.partial` file and renamed when complete, so
an interrupted run leaves nothing half-written behind.

The result is referenced as `<catalog name>:<type>` (e.g. `smollm2-135m:q4_0`) or by path.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from livemind.engine.backends.base import apply_engine_wait_policy
from livemind.engine.catalog import ModelCatalog, ProgressCallback, check_gguf_header, optimized_path
from livemind.errors import LiveMindError, ModelCorruptError


@dataclass(frozen=True)
class QuantType:
    """A target type: llama.cpp's ftype number and what it is good for."""

    name: str
    ftype: int
    bits_per_weight: float
    why: str


QUANT_TYPES: dict[str, QuantType] = {
    t.name: t for t in (
        QuantType("q4_0", 2, 4.5, "repacked at load: AVX2 8x8, NEON dotprod 4x4, NEON i8mm 4x8, SVE 8x8; tinyBLAS gemm"),
        QuantType("iq4_nl", 25, 4.5, "repacked at load on NEON with dotprod (4x4); non-linear 4-bit grid"),
        QuantType("q8_0", 7, 8.5, "tinyBLAS gemm on AVX2/NEON; repacked on NEON with dotprod/i8mm; near-lossless"),
    )
}
DEFAULT_TYPE = "q4_0"
_TENSOR_LINE = re.compile(r"\[\s*(\d+)\s*/\s*(\d+)\]")


@dataclass(frozen=True)
class OptimizeResult:
    """What `optimize_model` produced."""

    model: str
    qtype: str
    source: Path
    output: Path
    source_bytes: int
    output_bytes: int
    seconds: float
    reused: bool

    @property
    def reference(self) -> str:
        """How an expert configuration names the optimized model."""
        return f"{self.model}:{self.qtype}" if ":" not in self.model and not self.model.endswith(".gguf") else str(self.output)


def quant_type(name: str) -> QuantType:
    """Look up a target type, or raise with the valid ones."""
    try:
        return QUANT_TYPES[name.lower()]
    except KeyError:
        raise LiveMindError(f"unknown target type '{name}'",
                            hint="use one of: " + ", ".join(QUANT_TYPES)) from None


def _source(catalog: ModelCatalog, ref: str) -> tuple[str, Path]:
    if catalog.is_optimized_ref(ref):
        raise LiveMindError(f"'{ref}' is already an optimized copy",
                            hint=f"optimize the original: `livemind models optimize {ref.split(':')[0]}`")
    resolved = catalog.resolve(ref)
    if resolved.path.is_dir():
        raise LiveMindError(f"'{ref}' is an embedding model, not a GGUF", hint="optimize a chat model, e.g. smollm2-135m")
    check_gguf_header(resolved.path)
    return (ref if catalog.is_catalog_name(ref) else str(resolved.path)), resolved.path


def optimize_model(catalog: ModelCatalog, ref: str, qtype: str = DEFAULT_TYPE, *, force: bool = False,
                   threads: int | None = None, progress: ProgressCallback | None = None) -> OptimizeResult:
    """Requantize model `ref` to `qtype`; reuse an existing copy newer than its source unless `force`."""
    target = quant_type(qtype)
    model, source = _source(catalog, ref)
    output = optimized_path(catalog.models_dir, source, target.name)
    source_bytes = source.stat().st_size
    if output.is_file() and not force and output.stat().st_mtime >= source.stat().st_mtime:
        check_gguf_header(output)
        return OptimizeResult(model, target.name, source, output, source_bytes, output.stat().st_size, 0.0, True)
    output.parent.mkdir(parents=True, exist_ok=True)
    needed = int(source_bytes * 2.2) + 64 * 2**20  # room for a q8_0 copy of a 4-bit source, with margin
    free = shutil.disk_usage(output.parent).free
    if free < needed:
        raise LiveMindError(f"not enough disk space in {output.parent}: {free / 2**20:.0f} MiB free, "
                            f"about {needed / 2**20:.0f} MiB needed",
                            hint="free some space, or set LIVEMIND_HOME to a larger disk")
    partial = output.with_suffix(".partial")
    started = time.perf_counter()
    try:
        _run_worker(source, partial, target, threads or os.cpu_count() or 1, progress)
        check_gguf_header(partial)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return OptimizeResult(model, target.name, source, output, source_bytes, output.stat().st_size,
                          round(time.perf_counter() - started, 2), False)


def _run_worker(source: Path, partial: Path, target: QuantType, threads: int, progress: ProgressCallback | None) -> None:
    command = [sys.executable, "-m", "livemind.engine.optimize", str(source), str(partial), str(target.ftype), str(threads)]
    env = dict(os.environ)
    apply_engine_wait_policy(env)
    tail: deque[str] = deque(maxlen=12)
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace",
                          env=env) as child:
        assert child.stderr is not None
        try:
            for line in child.stderr:
                tail.append(line.rstrip())
                match = _TENSOR_LINE.search(line)
                if match and progress is not None:
                    progress(f"quantize to {target.name}", int(match.group(1)), int(match.group(2)))
            code = child.wait()
        except BaseException:  # Ctrl-C or any error here: stop the child, leave no partial file
            child.kill()
            child.wait()
            raise
    if code != 0:
        detail = "; ".join(line for line in tail if line)[-600:]
        if code < 0:
            raise ModelCorruptError(f"the engine died (signal {-code}) while quantizing {source.name}: {detail}",
                                    hint="run `livemind doctor`; if the source is damaged, `livemind models pull --force`")
        raise ModelCorruptError(f"llama.cpp could not quantize {source.name}: {detail}",
                                hint="check that the file is a complete GGUF model (`livemind models verify`)")


def _worker(argv: list[str]) -> int:
    """Child process: quantize argv = [source, output, ftype, threads]; llama.cpp logs each tensor to stderr."""
    import ctypes

    import llama_cpp  # the engine loads only in the child

    @llama_cpp.llama_log_callback
    def to_stderr(_level: int, text: bytes, _user: ctypes.c_void_p) -> None:  # the parent reads progress from it
        sys.stderr.write(text.decode("utf-8", "replace"))

    llama_cpp.llama_log_set(to_stderr, ctypes.c_void_p(0))  # LiveMind's logger would swallow the tensor lines
    source, output, ftype, threads = argv
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = int(ftype)
    params.nthread = int(threads)
    params.allow_requantize = True  # the catalog ships quantized models; llama.cpp dequantizes then requantizes
    return int(llama_cpp.llama_model_quantize(source.encode(), output.encode(), ctypes.byref(params)))


__all__ = ["DEFAULT_TYPE", "QUANT_TYPES", "OptimizeResult", "QuantType", "optimize_model", "optimized_path", "quant_type"]


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit("usage: python -m livemind.engine.optimize SOURCE OUTPUT FTYPE THREADS (use `livemind models optimize`)")
    sys.exit(_worker(sys.argv[1:]))

