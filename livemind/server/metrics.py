"""Serving metrics in Prometheus text format: requests, latency, throughput, queues, pool and RAM.

Counters and histograms are updated as requests run (from worker threads: prometheus_client
is thread-safe). The pool, RAM and queue figures are read fresh at every scrape, so they can
never drift from what the pool and the admission lanes really hold.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from livemind.server.admission import LaneStatus
from livemind.types import PoolStatus

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
TTFT_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
TOK_S_BUCKETS = (1, 5, 10, 20, 40, 60, 80, 100, 150, 200, 400)
AFTER_CANCEL_BUCKETS = (0, 1, 2, 4, 8, 16, 32, 64)


class RequestTracker:
    """Measures one generation request: first token, token count, outcome, cancel latency."""

    def __init__(self, metrics: Metrics, endpoint: str, model: str) -> None:
        self._metrics = metrics
        self.endpoint = endpoint
        self.model = model
        self.started = time.perf_counter()
        self.first_token_s: float | None = None
        self.tokens = 0
        self._tokens_at_cancel: int | None = None
        self._is_finished = False
        self._lock = threading.Lock()

    def token(self) -> None:
        """Count one streamed token (the first one fixes the time to first token)."""
        with self._lock:
            self.tokens += 1
            if self.first_token_s is None:
                self.first_token_s = time.perf_counter() - self.started

    def cancel_requested(self) -> None:
        """Note how many tokens existed when the cancel was asked for (first call wins)."""
        with self._lock:
            if self._tokens_at_cancel is None:
                self._tokens_at_cancel = self.tokens

    def finish(self, outcome: str, *, tok_s: float | None = None, tokens_after_cancel: int | None = None) -> None:
        """Record the outcome once: ok, cancelled, busy, invalid, ram_refused or error.

        `tokens_after_cancel` is the engine's own count of tokens decoded after the cancel; without
        it (a council, a remote expert) the tokens that reached this request after the cancel are
        counted, an upper bound that includes tokens still in the hand-off queue.
        """
        with self._lock:
            if self._is_finished:
                return
            self._is_finished = True
            m = self._metrics
            m.requests.labels(self.endpoint, self.model, outcome).inc()
            m.tokens.labels(self.model, outcome).inc(self.tokens)
            if self.first_token_s is not None:
                m.ttft.labels(self.model).observe(self.first_token_s)
            if tok_s:
                m.tok_s.labels(self.model).observe(tok_s)
            if self._tokens_at_cancel is not None and outcome == "cancelled":
                late = (tokens_after_cancel if tokens_after_cancel is not None
                        else self.tokens - self._tokens_at_cancel)
                m.after_cancel.labels(self.model).observe(late)


class Metrics:
    """Every LiveMind serving metric, in a registry of its own."""

    def __init__(
        self,
        *,
        pool_status: Callable[[], PoolStatus] | None = None,
        lanes: Callable[[], list[LaneStatus]] | None = None,
        is_ready: Callable[[], bool] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter("livemind_http_requests", "HTTP requests answered, by path and status",
                                     ["method", "path", "status"], registry=r)
        self.requests = Counter("livemind_requests", "Generation requests by endpoint, model and outcome "
                                "(ok, cancelled, busy, invalid, ram_refused, error)",
                                ["endpoint", "model", "outcome"], registry=r)
        self.tokens = Counter("livemind_generated_tokens", "Tokens streamed by the engine, by model and outcome",
                              ["model", "outcome"], registry=r)
        self.ttft = Histogram("livemind_time_to_first_token_seconds",
                              "From request admission to the first generated token (queue and model load included)",
                              ["model"], buckets=TTFT_BUCKETS_S, registry=r)
        self.tok_s = Histogram("livemind_tokens_per_second", "Decode speed of finished generations",
                               ["model"], buckets=TOK_S_BUCKETS, registry=r)
        self.after_cancel = Histogram("livemind_tokens_after_cancel",
                                      "Tokens decoded after a cancel was requested (client gone, shutdown)",
                                      ["model"], buckets=AFTER_CANCEL_BUCKETS, registry=r)
        r.register(_LiveCollector(pool_status, lanes, is_ready))

    def track(self, endpoint: str, model: str) -> RequestTracker:
        """Start measuring one generation request."""
        return RequestTracker(self, endpoint, model)

    def count_http(self, method: str, path: str, status: int) -> None:
        """Count one HTTP response."""
        self.http_requests.labels(method, path, str(status)).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class _LiveCollector:
    """Reads the pool, RAM and admission lanes at scrape time."""

    def __init__(self, pool_status: Callable[[], PoolStatus] | None, lanes: Callable[[], list[LaneStatus]] | None,
                 is_ready: Callable[[], bool] | None) -> None:
        self._pool_status = pool_status
        self._lanes = lanes
        self._is_ready = is_ready

    def collect(self) -> Iterator[Metric]:
        if self._is_ready is not None:
            yield GaugeMetricFamily("livemind_ready", "1 when the server accepts work, 0 while starting or stopping",
                                    value=1 if self._is_ready() else 0)
        if self._lanes is not None:
            lanes = self._lanes()
            depth = GaugeMetricFamily("livemind_queue_depth", "Requests waiting for their turn, by model",
                                      labels=["model"])
            active = GaugeMetricFamily("livemind_queue_active", "Requests running, by model", labels=["model"])
            capacity = GaugeMetricFamily("livemind_queue_capacity", "Running plus waiting places, by model",
                                         labels=["model"])
            rejected = CounterMetricFamily("livemind_queue_rejections", "Requests refused with 429 because a "
                                           "model's queue was full", labels=["model"])
            for lane in lanes:
                depth.add_metric([lane.model], lane.waiting)
                active.add_metric([lane.model], lane.active)
                capacity.add_metric([lane.model], lane.capacity)
                rejected.add_metric([lane.model], lane.rejected)
            yield from (depth, active, capacity, rejected)
        if self._pool_status is not None:
            s = self._pool_status()
            yield GaugeMetricFamily("livemind_models_loaded", "Models loaded in the pool", value=len(s.loaded))
            loaded = GaugeMetricFamily("livemind_model_bytes", "Estimated bytes of each loaded model", labels=["model"])
            busy = GaugeMetricFamily("livemind_model_generating", "1 while a loaded model is generating",
                                     labels=["model"])
            for m in s.loaded:
                loaded.add_metric([m.model], m.estimated_bytes)
                busy.add_metric([m.model], 1 if m.is_generating else 0)
            yield from (loaded, busy)
            yield GaugeMetricFamily("livemind_pool_bytes", "Estimated bytes of all loaded models", value=s.pool_bytes)
            yield GaugeMetricFamily("livemind_ram_used_bytes", "Memory in use (cgroup-aware)", value=s.ram_used_bytes)
            yield GaugeMetricFamily("livemind_ram_total_bytes", "Memory available to this process in total",
                                    value=s.ram_total_bytes)
            yield GaugeMetricFamily("livemind_ram_limit_bytes", "The hard limit the RAM guard enforces",
                                    value=int(s.ram_total_bytes * s.hard_limit_percent / 100))
            if s.budget_bytes is not None:
                yield GaugeMetricFamily("livemind_ram_budget_bytes", "The absolute budget for loaded models",
                                        value=s.budget_bytes)
            yield CounterMetricFamily("livemind_pool_loads", "Model loads", value=s.loads)
            yield CounterMetricFamily("livemind_pool_evictions", "Models evicted to make room", value=s.evictions)
            yield CounterMetricFamily("livemind_pool_refusals", "Loads refused by the RAM guard", value=s.refusals)
