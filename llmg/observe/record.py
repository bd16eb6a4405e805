"""One request's observations, and where they are taken.

``Rec`` lives on ``request.ctx.obs`` and in a context variable (the transport gate's
``upstream_clock``), so the gate can add upstream time without being handed the request. A complete
answer is finished in the response middleware; a stream when its last chunk has gone out
(``StreamWatch``), so its line and metrics carry TTFT and the usage the provider sent at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..limits.usage import StreamMeter
from ..transports.gate import upstream_clock

perf = time.perf_counter


class Rec:
    __slots__ = ("start", "upstream_s", "ttft", "usage", "status", "done", "counted", "meter", "span", "deployment")

    def __init__(self, start: float) -> None:
        self.start = start
        self.upstream_s = 0.0
        self.ttft: float | None = None
        self.usage: Any = None  # limits.usage._Usage, or None: the provider reported none
        self.status = 0
        self.done = False
        self.counted = False  # in llmg_in_flight_requests
        self.meter: StreamMeter | None = None  # a stream's meter (ours or the limits gate's)
        self.span: Any = None  # the request's OpenTelemetry span, when tracing is on
        self.deployment: str | None = None  # a routed stream's x-llmg-deployment


# The current request's Rec: the gate adds upstream time to it, the traced transport finds its span.
current = upstream_clock


class TracedTransport:
    """Wraps the worker's (gated) transport when tracing is on: a child span per upstream attempt,
    carrying ``traceparent`` upstream. Upstream time is the gate's (``GatedTransport.timed``)."""

    def __init__(self, inner: Any, tracer: Any) -> None:
        self._inner = inner
        self._tracer = tracer  # observe.tracing.Tracer
        self.name = inner.name

    async def request(self, method: str, url: str, **kwargs: Any) -> Any:
        rec = current.get()
        if rec is None or rec.span is None:
            return await self._inner.request(method, url, **kwargs)
        span = self._tracer.attempt(rec, kwargs)
        status = 0
        try:
            answer = await self._inner.request(method, url, **kwargs)
            status = answer.status
            return answer
        finally:
            self._tracer.attempt_end(span, status)

    async def stream(self, method: str, url: str, **kwargs: Any) -> Any:
        rec = current.get()
        if rec is None or rec.span is None:
            return await self._inner.stream(method, url, **kwargs)
        span = self._tracer.attempt(rec, kwargs)
        status = 0
        try:
            inner = await self._inner.stream(method, url, **kwargs)
            status = inner.status
        finally:  # the attempt's span covers its answer's head; the body is the request's
            self._tracer.attempt_end(span, status)
        return inner

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class StreamWatch:
    """A stream's observation, called by the senders (``streaming.send_stream``,
    ``inbound.sse.send_events``) through ``request.ctx.stream_watch``: ``feed`` filters each
    outgoing chunk (our meter's, when the limits gate meters none), ``first`` notes the first chunk
    (TTFT), ``end`` finishes the request once, when the body has ended, failed or been abandoned.

    Hooks in the sender's own loop, not an async generator around the chunks: a generator layer
    is resumed once per chunk, these cost one call per stream (benchmarks/results/observe.md)."""

    __slots__ = ("_rec", "_meter", "_finish", "feed")

    def __init__(self, rec: Rec, feed: StreamMeter | None, finish: Callable[[], None]) -> None:
        self._rec = rec
        self._meter = feed
        self._finish = finish
        self.feed: Callable[[bytes], bytes] | None = feed.feed if feed is not None else None

    def first(self) -> None:
        rec = self._rec
        if rec.ttft is None:
            rec.ttft = perf() - rec.start

    def rest(self) -> bytes:
        """What our meter still holds (an event without its end) when the upstream has ended."""
        return self._meter.flush() if self._meter is not None else b""

    def end(self) -> None:
        rec = self._rec
        if not rec.done:
            meter = rec.meter
            rec.usage = meter.usage if meter is not None else None
            self._finish()
