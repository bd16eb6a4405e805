"""One request's observations, and where they are taken.

``Rec`` lives on ``request.ctx.obs`` and in a context variable, so the transport wrapper
(``ObservedTransport``) can add upstream time without being handed the request. A complete answer
is finished in the response middleware; a stream when its last chunk has gone out (``Watched``),
so its line and metrics carry TTFT and the usage the provider sent at the end.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any

from ..limits.usage import StreamMeter

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

    async def request(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None,
                      timeout: Any, provider: str) -> Any:
        # The Transport protocol's own keywords, not **kwargs: no dict built and unpacked per
        # request when untraced (benchmarks/results/observe.md, round three).
        rec = current.get()
        if rec is not None and rec.span is None:
            t0 = perf()
            try:
                return await self._inner.request(method, url, headers=headers, body=body, timeout=timeout,
                                                 provider=provider)
            finally:
                rec.upstream_s += perf() - t0
        return await self._traced(rec, method, url,
                                  {"headers": headers, "body": body, "timeout": timeout, "provider": provider})

    async def _traced(self, rec: Rec | None, method: str, url: str, kwargs: dict[str, Any]) -> Any:
        if rec is None:
            return await self._inner.request(method, url, **kwargs)
        span = self._tracer.attempt(rec, kwargs)
        t0 = perf()
        status = 0
        try:
            answer = await self._inner.request(method, url, **kwargs)
            status = answer.status
            return answer
        finally:
            rec.upstream_s += perf() - t0
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
    has none, and finishes the request once, when the body ends, fails, or is closed unstarted.

    ``async for`` runs the generator ``_watch`` itself (``__aiter__`` hands it out): resuming one
    frame per chunk costs less than a coroutine and a try block per ``__anext__``
    (benchmarks/observe.py). This object only covers the stream closed before its first chunk,
    where a generator's ``finally`` never runs."""

    __slots__ = ("_gen", "_source", "_rec", "_finish", "entered")

    def __init__(self, source: AsyncIterator[bytes], rec: Rec, feed: StreamMeter | None,
                 finish: Callable[[BaseException | None], None]) -> None:
        self._source = source
        self._rec = rec
        self._finish = finish
        self.entered = False
        self._gen = self._watch(feed)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._gen

    def __anext__(self) -> Awaitable[bytes]:
        return self._gen.__anext__()

    async def _watch(self, feed: StreamMeter | None) -> AsyncGenerator[bytes, None]:
        self.entered = True
        rec = self._rec
        error: BaseException | None = None
        try:
            async for chunk in self._source:
                if feed is not None:
                    chunk = feed.feed(chunk)
                    if not chunk:
                        continue
                if rec.ttft is None:
                    rec.ttft = perf() - rec.start
                yield chunk
            if feed is not None and (rest := feed.flush()):
                yield rest
        except GeneratorExit:  # closed by its consumer (send_stream's finally): not a failure
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._end(error)
            await self._close_source()

    def _end(self, error: BaseException | None) -> None:
        rec = self._rec
        if not rec.done:
            meter = rec.meter
            rec.usage = meter.usage if meter is not None else None
            self._finish(error)

    async def _close_source(self) -> None:
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:  # closing this wrapper must close the upstream too
            await aclose()

    async def aclose(self) -> None:
        if self.entered:
            await self._gen.aclose()  # its finally finishes the request and closes the source
            return
        self._end(None)
        await self._close_source()
