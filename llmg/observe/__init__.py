"""Usage, cost, Prometheus metrics, the JSON access line and traces: what operators see.

``install`` wires an ``Observer`` into an app only when something is asked for ([metrics]
enabled, a json access log, [tracing] enabled), so a default gateway pays nothing. Per request:

  http.handler.before  -> a Rec (start = the moment Sanic had the request head), in flight +1;
                          a streamed chat/completions request gets ``include_usage`` asked for
                          (unless the limits gate already meters it: its meter is read instead).
  upstream exchanges   -> the transport gate adds their time to the Rec (GatedTransport.timed).
  app.py's response    -> a complete answer finishes here; a stream when its body ends
                          (record.StreamWatch). Either way in flight -1 and ONE record appended
                          (values copied, no request or response kept: batch.Record).
  every BATCH_S         -> batch.Batch.drain: usage, cost, budgets, metrics and the access lines of
                          all finished requests in one loop (also before a scrape, a budget check,
                          GET /v1/key, and at worker stop). Spans end at the request's end.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

import msgspec
from sanic import HTTPResponse, Request

from .. import logs
from ..config import Config
from ..context import App
from ..errors import AuthenticationError
from ..keys import PLAIN
from ..limits.gate import _peek as _peek_decoder  # the gate's three-field peek: one decoder
from ..limits.usage import StreamMeter, ask_for_usage, body_usage
from ..routing.attempts import DEPLOYMENT_HEADER
from ..runtime import current as current_runtime
from ..transports import GatedTransport
from .batch import BATCH_S, Batch, Record
from .budget import Budgets
from .pricing import Prices
from .record import Rec, StreamWatch, TracedTransport, current, perf

_log = logging.getLogger("llmg.observe")

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
        self.json_log = config.server.access_log and logs.effective_format(config.logging.format) == "json"
        self.log_bodies = config.logging.log_bodies
        self.prices = Prices(config.pricing)
        budgets = Budgets(config) if config.server.auth.enabled else None
        self.budgets = budgets if budgets is not None and budgets.limits else None
        self.tracer: Any = None
        if config.tracing.enabled:
            from .tracing import Tracer

            self.tracer = Tracer(config.tracing)
        self.batch = Batch(self.metrics, self.prices, self.budgets, self.json_log, self.log_bodies)
        self._task: asyncio.Task[None] | None = None

    # --- request middleware ----------------------------------------------------------------------

    async def on_request(self, request: Request) -> None:  # the http.handler.before signal handler (install)
        # ``request.ctx`` and ``request.path`` are Python properties in Sanic (a call each, and
        # the path is decoded every time): read once per request here and in finish.
        ctx = request.ctx
        started = getattr(request.stream, "perft0", None)
        rec = Rec(started if started is not None else perf())
        ctx.obs = rec
        current.set(rec)
        if self.metrics is not None:  # a scrape counts too, and takes itself out (scrape)
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
        ctx.stream_watch = StreamWatch(rec, feed, lambda: self.finish(request, rec))

    # --- response middleware ---------------------------------------------------------------------

    def on_response(self, request: Request, response: HTTPResponse) -> None:
        ctx = request.ctx
        rec: Rec | None = getattr(ctx, "obs", None)
        if rec is None:  # turned away before the handler (auth, limits, 404)
            started = getattr(request.stream, "perft0", None)
            rec = ctx.obs = Rec(started if started is not None else perf())
        status = rec.status = response.status
        if rec.done:
            return
        if status < 400:
            content_type = response.content_type
            if content_type and content_type.startswith(_SSE):
                # Finished when the stream ends (record.StreamWatch), without the response: keep which
                # deployment of a routing group serves it, for its price and its access line.
                rec.deployment = response.headers.get(DEPLOYMENT_HEADER)
                return
        rec.done = True
        if rec.counted:
            self.metrics.in_flight_n -= 1
        if rec.span is not None:
            self._end_span(request, rec, response)
        # The whole of the request path's share: one record, read by batch.Batch.drain.
        self.batch.pending.append(self._record(request, ctx, rec, response.headers.get(DEPLOYMENT_HEADER),
                                               response.body if status < 400 or self.log_bodies else None))

    # --- the end of a stream ---------------------------------------------------------------------

    def finish(self, request: Request, rec: Rec) -> None:
        """A stream's end (its failure, if any, is ``request.ctx.error``: the sender sets it)."""
        if rec.done:
            return
        rec.done = True
        if rec.counted:
            self.metrics.in_flight_n -= 1
        if rec.span is not None:
            self._end_span(request, rec, None)
        self.batch.pending.append(self._record(request, request.ctx, rec, rec.deployment, None))

    def _record(self, request: Request, ctx: Any, rec: Rec, deployment: str | None, body: bytes | None) -> Record:
        """The values the batch needs, copied now (strings, numbers and the body), so that a record
        does not keep the request, its context and its response alive for up to BATCH_S. The same
        reads the drain made before; no throughput change could be resolved either way
        (benchmarks/results/observe.md, round four)."""
        return (rec, request.route, request.method, request.path, getattr(ctx, "key", PLAIN),
                getattr(ctx, "provider", "-"), getattr(ctx, "model", "-"), getattr(ctx, "request_id", None),
                getattr(ctx, "error", None), deployment, body,
                request.body if self.log_bodies else None, perf())

    def _end_span(self, request: Request, rec: Rec, response: HTTPResponse | None) -> None:
        """Traces only: the span ends now (its end time), so its usage is read now too."""
        usage = rec.usage if response is None else (body_usage(response.body or b"") if rec.status < 400 else None)
        error = getattr(request.ctx, "error", None)
        self.tracer.end(rec.span, request, rec, usage.kinds() if usage is not None else None, error)

    def drain(self) -> None:
        """Finished requests to metrics, budgets and access lines (batch.Batch.drain)."""
        self.batch.drain()

    def start(self) -> None:
        """Every BATCH_S: the finished requests drained, the metrics handed to prometheus-client."""
        metrics = self.metrics
        batch = self.batch

        async def loop() -> None:
            while True:
                await asyncio.sleep(BATCH_S)
                try:
                    batch.drain()
                    if metrics is not None:
                        metrics.flush()
                except Exception:  # one bad batch is lost, not every later one (the loop stays)
                    _log.exception("observe: a batch of finished requests could not be recorded")

        self._task = asyncio.get_running_loop().create_task(loop())

    def stop(self) -> None:
        """Worker stop: nothing pending is lost."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.batch.drain()
        logs.flush_access()
        if self.metrics is not None:
            self.metrics.worker_exit()

    # --- GET /metrics ----------------------------------------------------------------------------

    def scrape(self, request: Request) -> HTTPResponse:
        self.batch.drain()  # every finished request of this worker counted
        groups = current_runtime(request).resolver.groups
        if groups:
            self.metrics.observe_breakers(groups)
        # Not counting the scrape itself (an idle gateway reads 0): a comparison here, not a
        # request.path (a property that decodes the path) per request in on_request.
        self.metrics.in_flight_n -= 1
        try:
            body, content_type = self.metrics.exposition()
        finally:
            self.metrics.in_flight_n += 1
        return HTTPResponse(body, content_type=content_type)


def _peek(body: bytes) -> Any:
    try:
        return _peek_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def wrap_transport(app: App, transport: GatedTransport) -> Any:
    """The worker's transport: timed by its gate when an Observer is installed, wrapped for a
    span per upstream attempt only when tracing is on."""
    observer = getattr(app.ctx, "observer", None)
    if observer is None:
        return transport
    transport.timed = True
    return transport if observer.tracer is None else TracedTransport(transport, observer.tracer)


def install(app: App, config: Config) -> None:
    if not wanted(config):
        return
    observer = app.ctx.observer = Observer(config)
    app_ctx = app.ctx
    observer.batch.groups = lambda: app_ctx.runtime.resolver.groups  # read at drain time: a reload swaps it

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
        checked_batch = observer.batch

        @app.signal("http.handler.before")
        async def observe_request(request: Request) -> None:
            await start(request)
            checked_batch.drain()  # this worker's finished requests charged before the check
            name = getattr(request.ctx, "key", PLAIN).name
            if name and request.method == "POST":
                await checked.check(name)  # 429 insufficient_quota once the budget is spent

    @app.after_server_start
    async def observe_batches(app: App) -> None:
        observer.start()

    @app.before_server_stop
    async def observe_stop(app: App) -> None:
        observer.stop()

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
