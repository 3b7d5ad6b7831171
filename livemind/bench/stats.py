"""Summaries of repeated measurements, and the peak resident memory of a block of work."""

from __future__ import annotations

import statistics
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import psutil

MiB = 2**20


@dataclass(frozen=True)
class Summary:
    """Mean, median, standard deviation, min and max of n measurements."""

    n: int
    mean: float
    median: float
    stdev: float
    min: float
    max: float

    def as_dict(self, digits: int = 4) -> dict[str, float]:
        """The summary with rounded figures, for JSON."""
        return {k: (round(v, digits) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def summarize(values: Sequence[float]) -> Summary:
    """Summarise measurements (stdev is 0 for a single one)."""
    if not values:
        return Summary(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return Summary(n=len(values), mean=statistics.fmean(values), median=statistics.median(values),
                   stdev=statistics.stdev(values) if len(values) > 1 else 0.0, min=min(values), max=max(values))


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when the denominator is zero."""
    return numerator / denominator if denominator else None


@dataclass
class RssPeak:
    """The highest resident set size seen while a block ran, and where it started."""

    start_bytes: int = 0
    peak_bytes: int = 0

    @property
    def growth_bytes(self) -> int:
        """How far the peak rose above the start."""
        return max(0, self.peak_bytes - self.start_bytes)


@contextmanager
def peak_rss(interval_s: float = 0.02) -> Iterator[RssPeak]:
    """Sample this process's RSS in the background while the block runs."""
    process = psutil.Process()
    result = RssPeak(start_bytes=process.memory_info().rss)
    result.peak_bytes = result.start_bytes
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            result.peak_bytes = max(result.peak_bytes, process.memory_info().rss)
            stop.wait(interval_s)

    sampler = threading.Thread(target=sample, name="livemind-bench-rss", daemon=True)
    sampler.start()
    try:
        yield result
    finally:
        stop.set()
        sampler.join()
        result.peak_bytes = max(result.peak_bytes, process.memory_info().rss)
