"""Usage, cost, Prometheus metrics, the JSON access line and traces: what operators see.

``install`` wires an ``Observer`` into an app only when something is asked for ([metrics]
enabled, a json access log, [tracing] enabled), so a default gateway pays nothing. Per request:

  http.handler.before  -> a Rec (start = the moment Sanic had the request head), in flight +1;
                          a streamed chat/completions request gets ``include_usage`` asked for
                          (unless the limits gate already meters it: its meter is read instead).
  upstream exchanges   -> ObservedTransport adds their time to the Rec.
  app.py's response    -> a complete answer finishes here, with the usage of its body;
                          a stream finishes when its body ends (record.Watched).
  finish               -> metrics (precomputed label children), the access line, the span.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from sanic import HTTPResponse, Request

from .. import logs
from ..config import Config
from ..context import App
from ..errors import AuthenticationError, GatewayError
from ..keys import PLAIN
from ..limits.gate import _peek as _peek_decoder  # the gate's three-field peek: one decoder
from ..limits.usage import StreamMeter, ask_for_usage, body_usage
from ..request_id import request_id
from ..routing.attempts import DEPLOYMENT_HEADER
from ..runtime import current as current_runtime
from .access import AccessLine, AccessLineWithBodies
from .budget import Budgets
from .pricing import Prices
from .record import ObservedTransport, Rec, Watched, current, perf

__all__ = ["Observer", "install", "wanted", "wrap_transport"]

_SSE = "text/event-stream"


def wanted(config: Config) -> bool:
    return (config.metrics.enabled or config.tracing.enabled or any(k.budget_usd for k in config.keys.values())
            or (config.server.access_log and logs.effective_format(config.logging.format) == "json"))


class Observer:
    def __init__(self, config: Config) -> None:
        self.metrics: Any = None
        if config.metrics.enabled:
            from .metrics import Metrics

            self.metrics = Metrics()
        self.scrape_path = config.metrics.path
        self.json_log = config.server.access_log and logs.effective_format(config.logging.format) == "json"
        self.log_bodies = config.logging.log_bodies
        self.prices = Prices(config.pricing)
        budgets = Budgets(config) if config.server.auth.enabled else None
        self.budgets = budgets if budgets is not None and budgets.limits else None
        self.tracer: Any = None
        if config.tracing.enabled:
            from .tracing import Tracer

            self.tracer = Tracer(config.tracing)

    # --- request middleware ----------------------------------------------------------------------

    async def on_request(self, request: Request) -> None:  # the http.handler.before signal handler (install)
        # ``request.ctx`` and ``request.path`` are Python properties in Sanic (a call each, and
        # the path is decoded every time): read once per request here and in finish.
        ctx = request.ctx
        started = getattr(request.stream, "perft0", None)
        rec = Rec(started if started is not None else perf())
        ctx.obs = rec
        current.set(rec)
        if self.metrics is not None and request.path != self.scrape_path:  # idle reads 0, scrapes aside
            self.metrics.in_flight_n += 1
            rec.counted = True
        if self.tracer is not None:
            rec.span = self.tracer.start(request)
        if request.method != "POST":
            return
        body = request.body
        # find, not `in`: bytes.__contains__ first tries the argument as an int and builds (then
        # drops) a TypeError, about 1 µs per test on CPython 3.11 (see benchmarks/results/observe.md).
        if not body or body.find(b'"stream"') < 0:
            return
        ticket = getattr(ctx, "limit_ticket", None)
        meter = ticket.meter if ticket is not None else None
        feed: StreamMeter | None = None
        if meter is None:
            peek = _peek(body)
            if peek is None or not peek.stream:
                return
            meter = feed = ask_for_usage(request, peek.stream_options)
        rec.meter = meter
        inner = getattr(ctx, "wrap_stream", None)

        def wrap(chunks: Any) -> AsyncIterator[bytes]:
            source = inner(chunks) if inner is not None else chunks
            return Watched(source, rec, feed, lambda exc: self.finish(request, rec, error=exc))

        ctx.wrap_stream = wrap

    # --- response middleware ---------------------------------------------------------------------

    def on_response(self, request: Request, response: HTTPResponse) -> None:
        ctx = request.ctx
        rec: Rec | None = getattr(ctx, "obs", None)
        if rec is None:  # turned away before the handler (auth, limits, 404)
            started = getattr(request.stream, "perft0", None)
            rec = ctx.obs = Rec(started if started is not None else perf())
        rec.status = response.status
        if rec.done:
            return
        content_type = response.content_type
        if response.status < 400 and content_type and content_type.startswith(_SSE):
            # Finished when the stream ends (record.Watched), without the response: keep which
            # deployment of a routing group serves it, for its price and its access line.
            rec.deployment = response.headers.get(DEPLOYMENT_HEADER)
            return
        if response.status < 400:
            rec.usage = body_usage(response.body or b"")
        self.finish(request, rec, response)

    # --- the end of a request --------------------------------------------------------------------

    def finish(self, request: Request, rec: Rec, response: HTTPResponse | None = None,
               error: BaseException | None = None) -> None:
        if rec.done:
            return
        rec.done = True
        elapsed = perf() - rec.start
        ctx = request.ctx
        policy = getattr(ctx, "key", PLAIN)
        key = policy.name or "-"
        provider = getattr(ctx, "provider", "-")
        model = getattr(ctx, "model", "-")
        route = request.route.path if request.route is not None else "-"
        usage = rec.usage
        kinds = usage.kinds() if usage is not None else None
        cost: float | None = None
        if kinds is not None:
            price = self.prices.get(model)
            if price is None:  # a routing group: priced by the deployment that answered
                served = response.headers.get(DEPLOYMENT_HEADER) if response is not None else rec.deployment
                if served:
                    price = self.prices.get(_served_model(request, model, served))
            if price is not None:
                cost = price.cost(kinds[0], kinds[1], kinds[2])
        if not isinstance(error, GatewayError):  # a stream's own failure, else what handle_error saw
            error = getattr(ctx, "error", None)
        if cost is not None and self.budgets is not None and policy.name:
            self.budgets.charge(policy.name, cost)
        m = self.metrics
        if m is not None:
            if rec.counted:
                m.in_flight_n -= 1
                rec.counted = False
            ch = m.child(route, provider, model, key, rec.status)
            ch.n += 1
            ch.duration.observe(elapsed)
            if rec.upstream_s:
                ch.upstream.observe(rec.upstream_s)
            if rec.ttft is not None:
                ch.ttft.observe(rec.ttft)
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
            elif rec.status < 400 and provider != "-":
                ch.no_usage_n += 1
            if error is not None:
                if provider == "-":  # refused before routing: the gateway's own limits
                    if rec.status == 429:
                        m.rate_limited.labels(key).inc()
                elif logs.is_upstream_failure(error):
                    m.upstream_errors.labels(provider, error.code or error.type).inc()
        if self.json_log:
            deployment = response.headers.get(DEPLOYMENT_HEADER) if response is not None else rec.deployment
            upstream_s = rec.upstream_s
            ttft = rec.ttft
            rid = getattr(ctx, "request_id", None)  # set by app.py's response middleware, before this
            line = (AccessLineWithBodies if self.log_bodies else AccessLine)(
                time.time(), rid if rid is not None else request_id(request), request.method, request.path, route,
                policy.name or None, None if provider == "-" else provider, None if model == "-" else model,
                deployment, rec.status,
                round(elapsed * 1000, 3), round(upstream_s * 1000, 3) if upstream_s else None,
                round(ttft * 1000, 3) if ttft is not None else None,
                "provider" if kinds is not None else "none",
                kinds[0] if kinds is not None else None, kinds[1] if kinds is not None else None,
                kinds[2] if kinds is not None else None, kinds[3] if kinds is not None else None,
                cost, (error.code or error.type) if error is not None else None,
            )
            if isinstance(line, AccessLineWithBodies):
                line.request_body = (request.body or b"").decode("utf-8", "replace")
                if response is not None:
                    line.response_body = (response.body or b"").decode("utf-8", "replace")
            logs.access_json(line)
        if rec.span is not None:
            self.tracer.end(rec.span, request, rec, kinds, error)

    # --- GET /metrics ----------------------------------------------------------------------------

    def scrape(self, request: Request) -> HTTPResponse:
        groups = current_runtime(request).resolver.groups
        if groups:
            self.metrics.observe_breakers(groups)
        body, content_type = self.metrics.exposition()
        return HTTPResponse(body, content_type=content_type)


def _served_model(request: Request, group: str, label: str) -> str:
    """The "provider/model" of the deployment of ``group`` (or of its fallbacks) whose
    x-llmg-deployment label is ``label`` (a deployment's ``name`` when it has one)."""
    found = current_runtime(request).resolver.groups.get(group)
    for target in found.chain if found is not None else ():
        for dep in target.deployments:
            if dep.label == label:
                return dep.full
    return label


def _peek(body: bytes) -> Any:
    try:
        return _peek_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def wrap_transport(app: App, transport: Any) -> Any:
    """The worker's transport, timed per request when an Observer is installed."""
    observer = getattr(app.ctx, "observer", None)
    return transport if observer is None else ObservedTransport(transport, observer.tracer)


def install(app: App, config: Config) -> None:
    if not wanted(config):
        return
    observer = app.ctx.observer = Observer(config)

    # No Sanic middleware of its own: Sanic runs each middleware between two dispatches of the
    # http.middleware.before/after signals (a router miss raising and catching NotFound, twice), a
    # larger cost than the observer's own work (benchmarks/results/observe.md, callgrind). The start
    # is a handler of http.handler.before, which Sanic fires once the body is read and the request
    # middleware (the limits gate: its meter is read) has run, and which GatewaySanic dispatches
    # directly (llmg/signal_dispatch.py); the finish rides on app.py's own response middleware
    # (``respond``), which runs last.
    checked = observer.budgets
    if checked is None:
        app.signal("http.handler.before")(observer.on_request)  # the method itself: no call in between
    else:
        start = observer.on_request

        @app.signal("http.handler.before")
        async def observe_request(request: Request) -> None:
            await start(request)
            name = getattr(request.ctx, "key", PLAIN).name
            if name and request.method == "POST":
                await checked.check(name)  # 429 insufficient_quota once the budget is spent

    if observer.json_log:

        @app.before_server_stop
        async def flush_access_lines(app: App) -> None:
            logs.flush_access()

    budgets = observer.budgets
    if budgets is not None:

        @app.before_server_start
        async def open_budgets(app: App) -> None:
            budgets.open()

        @app.after_server_stop
        async def close_budgets(app: App) -> None:
            await budgets.store.aclose()

    if config.metrics.enabled:
        scrape_key = config.metrics.key

        async def metrics(request: Request) -> HTTPResponse:
            if scrape_key:  # its own key, compared in constant time; gateway keys are not accepted
                scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
                if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), scrape_key.encode()):
                    raise AuthenticationError()
            return observer.scrape(request)

        app.add_route(metrics, config.metrics.path, methods=["GET"], name="metrics", ctx_public=bool(scrape_key))

        @app.after_server_start
        async def metrics_flusher(app: App) -> None:
            observer.metrics.start()

        @app.before_server_stop
        async def metrics_worker_exit(app: App) -> None:
            observer.metrics.worker_exit()
