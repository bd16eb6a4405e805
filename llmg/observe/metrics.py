"""Prometheus metrics: the metric objects, their label children, and the exposition.

With ``--workers N`` every worker is its own process: prometheus-client's multiprocess mode keeps
each worker's values in files under ``PROMETHEUS_MULTIPROC_DIR`` (``llmg serve`` makes a fresh
directory before the workers start, see ``prepare_multiprocess``) and a scrape, answered by any
one worker, sums them all. Without that variable (one process, tests in-process) each app has its
own registry, so several apps in one process never share counters.

Label children are looked up once per label combination and kept (``Metrics.children``); the
values are added in batches (llmg/observe/batch.py), not per request.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from bisect import bisect_left
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Whole-request and upstream latency, seconds: 5 ms .. 10 min (LLM answers are slow and varied).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
KINDS = ("prompt", "completion", "cached", "reasoning")
BREAKER = {"closed": 0, "half-open": 1, "open": 2}
# Distinct label sets kept per worker; past it new ones are counted under model="other", so a
# caller inventing model names cannot grow the exposition without bound.
MAX_CHILDREN = 5000


def prepare_multiprocess() -> str:
    """Called by ``llmg serve`` before workers are spawned: a fresh, empty directory for the
    workers' metric files (they inherit the variable), removed when the server exits."""
    path = tempfile.mkdtemp(prefix="llmg-metrics-")
    os.environ[MULTIPROC_ENV] = path
    atexit.register(shutil.rmtree, path, True)
    return path


class _Hist:
    """A histogram child's pending observations: bucket counts and sum, in plain Python."""

    __slots__ = ("target", "bounds", "counts", "sum", "n")

    def __init__(self, target: Any, bounds: tuple[float, ...]) -> None:
        self.target = target
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: +Inf
        self.sum = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.n += 1

    def flush(self) -> None:
        if not self.n:
            return
        # prometheus-client has no bulk observe: its child keeps one value per bucket (not
        # cumulative) and the sum; tests/observe check the exposition stays right (pinned version).
        buckets = self.target._buckets
        for i, count in enumerate(self.counts):
            if count:
                buckets[i].inc(count)
                self.counts[i] = 0
        self.target._sum.inc(self.sum)
        self.sum = 0.0
        self.n = 0


class Children:
    """The metric children of one (route, provider, model, key, status) combination, with their
    pending values: a request adds to plain Python numbers; ``flush`` hands them to
    prometheus-client (its locks and, with --workers N, its memory-mapped files) off the hot path."""

    __slots__ = ("requests", "duration", "upstream", "ttft", "tokens", "cost", "unpriced", "no_usage",
                 "n", "token_n", "cost_usd", "unpriced_n", "no_usage_n")

    def __init__(self, m: Metrics, route: str, provider: str, model: str, key: str, status: str) -> None:
        self.requests = m.requests.labels(route, provider, model, key, status)
        self.duration = _Hist(m.duration.labels(route, provider, model), LATENCY_BUCKETS)
        self.upstream = _Hist(m.upstream.labels(route, provider, model), LATENCY_BUCKETS)
        self.ttft = _Hist(m.ttft.labels(route, provider, model), TTFT_BUCKETS)
        self.tokens = tuple(m.tokens.labels(provider, model, key, kind) for kind in KINDS)
        self.cost = m.cost.labels(provider, model, key)
        self.unpriced = m.unpriced.labels(provider, model)
        self.no_usage = m.no_usage.labels(provider, model)
        self.unpriced_n = 0
        self.no_usage_n = 0
        self.n = 0
        self.token_n = [0, 0, 0, 0]
        self.cost_usd = 0.0

    def flush(self) -> None:
        if self.n:
            self.requests.inc(self.n)
            self.n = 0
        for i, count in enumerate(self.token_n):
            if count:
                self.tokens[i].inc(count)
                self.token_n[i] = 0
        if self.cost_usd:
            self.cost.inc(self.cost_usd)
            self.cost_usd = 0.0
        if self.unpriced_n:
            self.unpriced.inc(self.unpriced_n)
            self.unpriced_n = 0
        if self.no_usage_n:
            self.no_usage.inc(self.no_usage_n)
            self.no_usage_n = 0
        self.duration.flush()
        self.upstream.flush()
        self.ttft.flush()


class Metrics:
    def __init__(self) -> None:
        # Imported here: PROMETHEUS_MULTIPROC_DIR must be set before prometheus_client is imported.
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        # In multiprocess mode the values live in files; the registry only serves exposition.
        self.registry = CollectorRegistry()
        reg: Any = None if self.multiprocess else self.registry
        self.requests = Counter("llmg_requests", "Requests answered", ["route", "provider", "model", "key", "status"], registry=reg)
        self.duration = Histogram("llmg_request_duration_seconds", "Whole request, head received to answer end",
                                  ["route", "provider", "model"], buckets=LATENCY_BUCKETS, registry=reg)
        self.upstream = Histogram("llmg_upstream_duration_seconds", "Time spent in upstream exchanges of a request",
                                  ["route", "provider", "model"], buckets=LATENCY_BUCKETS, registry=reg)
        self.ttft = Histogram("llmg_time_to_first_token_seconds", "Streams: head received to first chunk sent",
                              ["route", "provider", "model"], buckets=TTFT_BUCKETS, registry=reg)
        self.tokens = Counter("llmg_tokens", "Tokens as reported by the provider", ["provider", "model", "key", "kind"], registry=reg)
        self.cost = Counter("llmg_cost_usd", "Cost in USD of priced answers", ["provider", "model", "key"], registry=reg)
        self.unpriced = Counter("llmg_unpriced_requests", "Answers with usage but no price (cost unknown)",
                                ["provider", "model"], registry=reg)
        self.no_usage = Counter("llmg_usage_missing", "Answers whose provider reported no usage", ["provider", "model"], registry=reg)
        self.in_flight = Gauge("llmg_in_flight_requests", "Requests being handled", registry=reg, multiprocess_mode="livesum")
        self.upstream_errors = Counter("llmg_upstream_errors", "Failures from providers", ["provider", "type"], registry=reg)
        self.rate_limited = Counter("llmg_rate_limited", "Requests refused by the gateway's limits (429)", ["key"], registry=reg)
        self.breaker = Gauge("llmg_breaker_state", "Routing circuit breaker per deployment: 0 closed, 1 half-open, 2 open",
                             ["group", "deployment"], registry=reg, multiprocess_mode="max")
        self.children: dict[tuple[str, str, str, str, int], Children] = {}
        self.in_flight_n = 0  # set on the gauge at each flush

    def flush(self) -> None:
        """Pending values to prometheus-client: before each scrape, and after each batch.BATCH_S
        drain (so another worker's scrape sees this one's requests at most BATCH_S late)."""
        for child in self.children.values():
            child.flush()
        self.in_flight.set(self.in_flight_n)

    def child(self, route: str, provider: str, model: str, key: str, status: int) -> Children:
        label = (route, provider, model, key, status)
        found = self.children.get(label)
        if found is None:
            if len(self.children) >= MAX_CHILDREN:
                label = (route, provider, "other", key, status)
                found = self.children.get(label)
                if found is not None:
                    return found
            found = self.children[label] = Children(self, route, provider, label[2], key, str(status))
        return found

    def observe_breakers(self, groups: dict[str, Any]) -> None:
        """Breaker state of this worker's deployments, taken at scrape time."""
        now = time.monotonic()
        for name, group in groups.items():
            for dep in group.deployments:
                self.breaker.labels(name, dep.label).set(BREAKER.get(group.state.breaker(dep.key, now), 0))

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        self.flush()
        if self.multiprocess:
            from prometheus_client import CollectorRegistry
            from prometheus_client.multiprocess import MultiProcessCollector

            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def worker_exit(self) -> None:
        """A stopped worker's pending values are written; its live gauges no longer count."""
        self.flush()
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
