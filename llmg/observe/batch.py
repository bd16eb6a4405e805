"""The off-path half of the observer: a worker's finished requests, turned into metrics, costs,
budget charges and access lines in one batch.

A request only appends one tuple to ``Batch.pending`` (llmg/observe/__init__.py, ``finish``);
``drain`` runs every BATCH_S on a timer, before each /metrics scrape, before a budget check and at
worker stop. Round two (benchmarks/results/observe.md) found the per-request cost spread over ~40
small Python calls; here the loop's body does their work inline: one label-tuple lookup, bucket
indexes by bisect on precomputed bounds, one price-cache lookup, one Struct per access line and one
write for the batch.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from .. import logs
from ..errors import GatewayError
from ..limits.usage import body_usage
from .access import AccessLine, AccessLineWithBodies
from .budget import Budgets
from .metrics import LATENCY_BUCKETS, TTFT_BUCKETS, Metrics
from .pricing import Prices
from .record import Rec, perf

# How long a finished request may wait for its metrics and access line (a scrape drains first).
BATCH_S = 0.25

# One finished request, copied when it ends (Observer._record): (rec, route, method, path, key
# policy, provider, model, request id, error, deployment, response body (a complete answer's, for
# its usage; None for a stream, whose usage is on the Rec), request body (log_bodies only),
# perf_counter at its end). No request, context or response object is kept.
Record = tuple[Rec, Any, str, str, Any, str, str, "str | None", "GatewayError | None", "str | None",
               "bytes | None", "bytes | None", float]


class Batch:
    def __init__(self, metrics: Metrics | None, prices: Prices, budgets: Budgets | None,
                 json_log: bool, log_bodies: bool) -> None:
        self.pending: list[Record] = []
        self.metrics = metrics
        self.prices = prices
        self.budgets = budgets
        self.json_log = json_log
        self.log_bodies = log_bodies
        # The worker's current routing groups (the runtime's, swapped on reload); set by install.
        self.groups: Callable[[], dict[str, Any]] | None = None

    def _served_model(self, group: str, label: str) -> str:
        """The "provider/model" of the deployment of ``group`` (or of its fallbacks) whose
        x-llmg-deployment label is ``label`` (a deployment's ``name`` when it has one)."""
        found = self.groups().get(group) if self.groups is not None else None
        for target in found.chain if found is not None else ():
            for dep in target.deployments:
                if dep.label == label:
                    return str(dep.full)
        return label

    def drain(self) -> None:
        records = self.pending
        if not records:
            return
        self.pending = []
        wall = time.time() - perf()  # perf_counter -> epoch seconds, once per batch
        m = self.metrics
        children = m.children if m is not None else None
        prices = self.prices.table
        budgets = self.budgets
        lines: list[AccessLine] | None = [] if self.json_log else None
        with_bodies = self.log_bodies
        for (rec, route_obj, method, path, policy, provider, model, rid, error, deployment, body, request_body,
             end) in records:
            elapsed = end - rec.start
            status = rec.status
            name = policy.name
            key = name or "-"
            route = route_obj.path if route_obj is not None else "-"
            if body is not None:
                usage = body_usage(body) if status < 400 else None
            else:
                usage = rec.usage
            kinds = usage.kinds() if usage is not None else None
            cost: float | None = None
            if kinds is not None:
                price = prices.get(model)
                if price is None and deployment:  # a routing group: priced by the deployment that answered
                    price = prices.get(self._served_model(model, deployment))
                if price is not None:
                    cost = price.cost(kinds[0], kinds[1], kinds[2])
            if cost is not None and budgets is not None and name:
                budgets.charge(name, cost)
            upstream_s = rec.upstream_s
            ttft = rec.ttft
            if children is not None:
                assert m is not None
                ch = children.get((route, provider, model, key, status))
                if ch is None:
                    ch = m.child(route, provider, model, key, status)
                ch.n += 1
                h = ch.duration
                h.counts[bisect_left(LATENCY_BUCKETS, elapsed)] += 1
                h.sum += elapsed
                h.n += 1
                if upstream_s:
                    h = ch.upstream
                    h.counts[bisect_left(LATENCY_BUCKETS, upstream_s)] += 1
                    h.sum += upstream_s
                    h.n += 1
                if ttft is not None:
                    h = ch.ttft
                    h.counts[bisect_left(TTFT_BUCKETS, ttft)] += 1
                    h.sum += ttft
                    h.n += 1
                if kinds is not None:
                    counts = ch.token_n
                    counts[0] += kinds[0]
                    counts[1] += kinds[1]
                    counts[2] += kinds[2]
                    counts[3] += kinds[3]
                    if cost is not None:
                        ch.cost_usd += cost
                    else:
                        ch.unpriced_n += 1
                elif status < 400 and provider != "-":
                    ch.no_usage_n += 1
                if error is not None:
                    if provider == "-":  # refused before routing: the gateway's own limits
                        if status == 429:
                            m.rate_limited.labels(key).inc()
                    elif logs.is_upstream_failure(error):
                        m.upstream_errors.labels(provider, error.code or error.type).inc()
            if lines is not None:
                # Milliseconds to 3 places as int(x * 1e6 + 0.5) / 1000: the same value as round(x, 3)
                # for these positive durations, at a third of its cost (round with digits formats).
                line = (AccessLineWithBodies if with_bodies else AccessLine)(
                    end + wall, rid if rid is not None else "-", method, path, route,
                    name or None, None if provider == "-" else provider, None if model == "-" else model,
                    deployment, status,
                    int(elapsed * 1e6 + 0.5) / 1000, int(upstream_s * 1e6 + 0.5) / 1000 if upstream_s else None,
                    int(ttft * 1e6 + 0.5) / 1000 if ttft is not None else None,
                    "provider" if kinds is not None else "none",
                    kinds[0] if kinds is not None else None, kinds[1] if kinds is not None else None,
                    kinds[2] if kinds is not None else None, kinds[3] if kinds is not None else None,
                    cost, (error.code or error.type) if error is not None else None,
                )
                if isinstance(line, AccessLineWithBodies):
                    line.request_body = (request_body or b"").decode("utf-8", "replace")
                    if body is not None:
                        line.response_body = body.decode("utf-8", "replace")
                lines.append(line)
        if lines:
            logs.access_json_batch(lines)
