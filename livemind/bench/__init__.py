"""`livemind bench`: a reproducible latency and throughput report.

    BenchOptions ─▶ run_bench ─▶ engine_figures   overhead vs raw llama-cpp-python, batched vs
                                                  sequential, KV memory, engine defaults, baseline
                               ─▶ council_figures routing p50, a real debate with and without KV reuse
                               ─▶ batch_figures   the cost of a k-row step, 8 samples and code consensus
                                                  against one answer
                               ─▶ http_figures    `livemind serve` vs `llama_cpp.server` and `llama-server`
                 document ─▶ write_report ─▶ DIR/bench.json, DIR/report.md, DIR/*.png
                 progress: each finished section kept in DIR/bench.partial.json; a rerun resumes

Every ratio is measured within one run, alternating the two sides, so a busy machine slows
both alike. Targets are shown in the report, never asserted.
"""

from livemind.bench.report import write_report
from livemind.bench.suite import KEYS, TARGETS, run_bench
from livemind.bench.workbench import BenchOptions

__all__ = ["KEYS", "TARGETS", "BenchOptions", "run_bench", "write_report"]
