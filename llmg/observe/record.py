"""One request's observations, and where they are taken.

``Rec`` lives on ``request.ctx.obs`` and in a context variable, so the transport wrapper
(``ObservedTransport``) can add upstream time without being handed the request. A complete answer
is finished in the response middleware; a stream when its last chunk has gone out (``Watched``),
so its line and metrics carry TTFT and the usage the provider sent at the end.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextvars import ContextVar
from typing import Any

from ..limits.usage import StreamMeter

perf = time.perf_counter


class Rec:
    __slots__ = ("start", "upstream_s", "ttft", "usage", "status", "done", "counted", "meter", "span")

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


current: ContextVar[Rec | None] = ContextVar("llmg_observe_rec", default=None)


class _TimedStream:
    """An upstream stream whose whole exchange (open to last byte or close) counts as upstream time."""

    __slots__ = ("_inner", "_rec", "_t0", "status", "headers")

    def __init__(self, inner: Any, rec: Rec, t0: float) -> None:
        self._inner = inner
        self._rec = rec
        self._t0 = t0
        self.status = inner.status
        self.headers: Mapping[str, str] = inner.headers

    def _stop(self) -> None:
        if self._t0:
            self._rec.upstream_s += perf() - self._t0
            self._t0 = 0.0

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner.chunks():
                yield chunk
        finally:
            self._stop()

    async def read(self) -> bytes:
        try:
            data: bytes = await self._inner.read()
            return data
        finally:
            self._stop()

    async def aclose(self) -> None:
        self._stop()
        await self._inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class ObservedTransport:
    """Wraps the worker's transport: the time of every upstream exchange goes to the current Rec."""

    def __init__(self, inner: Any, tracer: Any = None) -> None:
        self._inner = inner
        self._tracer = tracer  # observe.tracing.Tracer: a child span per upstream attempt
        self.name = inner.name

    async def request(self, method: str, url: str, **kwargs: Any) -> Any:
        rec = current.get()
        if rec is None:
            return await self._inner.request(method, url, **kwargs)
        span = self._tracer.attempt(rec, kwargs) if rec.span is not None else None
        t0 = perf()
        status = 0
        try:
            answer = await self._inner.request(method, url, **kwargs)
            status = answer.status
            return answer
        finally:
            rec.upstream_s += perf() - t0
            if span is not None:
                self._tracer.attempt_end(span, status)

    async def stream(self, method: str, url: str, **kwargs: Any) -> Any:
        rec = current.get()
        if rec is None:
            return await self._inner.stream(method, url, **kwargs)
        span = self._tracer.attempt(rec, kwargs) if rec.span is not None else None
        t0 = perf()
        try:
            inner = await self._inner.stream(method, url, **kwargs)
        except BaseException:
            rec.upstream_s += perf() - t0
            if span is not None:
                self._tracer.attempt_end(span, 0)
            raise
        if span is not None:  # the attempt's span covers its answer's head; the body is the request's
            self._tracer.attempt_end(span, inner.status)
        return _TimedStream(inner, rec, t0)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class Watched:
    """The outgoing SSE body: notes the first chunk (TTFT), feeds our meter when the limits gate
    has none, and finishes the request once, when the body ends, fails, or is closed unstarted."""

    __slots__ = ("_it", "_source", "_rec", "_feed", "_finish", "_rest")

    def __init__(self, source: AsyncIterator[bytes], rec: Rec, feed: StreamMeter | None,
                 finish: Callable[[BaseException | None], None]) -> None:
        self._source = source
        self._it = source.__aiter__()
        self._rec = rec
        self._feed = feed
        self._finish = finish
        self._rest: bytes | None = None

    def __aiter__(self) -> Watched:
        return self

    async def __anext__(self) -> bytes:
        try:
            while True:
                chunk = await self._it.__anext__()
                if self._feed is not None:
                    chunk = self._feed.feed(chunk)
                    if not chunk:
                        continue
                break
        except StopAsyncIteration:
            rest = self._feed.flush() if self._feed is not None else b""
            if rest:
                return rest
            self._end()
            raise
        except BaseException as exc:
            self._end(exc)
            raise
        if self._rec.ttft is None:
            self._rec.ttft = perf() - self._rec.start
        return chunk

    def _end(self, exc: BaseException | None = None) -> None:
        rec = self._rec
        if not rec.done:
            meter = rec.meter
            rec.usage = meter.usage if meter is not None else None
            self._finish(exc)

    async def aclose(self) -> None:
        self._end()
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()
