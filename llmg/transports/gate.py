"""Overload control in front of any transport: refuse at once past the in-flight caps, and wait a
bounded time for a pooled connection.

- ``server.max_in_flight`` (per worker) and ``providers.NAME.max_in_flight`` count upstream
  exchanges in progress (a stream counts until it is closed). Past a cap the call fails at once
  with 503 ``overloaded`` and ``Retry-After``: queueing would only turn overload into timeouts.
- Each connection pool has ``pool_size`` slots. A call that finds them all busy waits at most
  ``server.pool_timeout`` for one, then gets a 503 too.

Both are plain counters on the hot path (one worker is one event loop: no lock is needed); only a
call that finds the pool full allocates a waiter. Slots are freed in ``finally`` blocks, so a
cancelled call (client gone) frees its slot at once.

The gate is also where a request's upstream time is taken when llmg/observe asks for it
(``timed``): every exchange passes here already, so timing it costs two clock reads, not one more
coroutine layer around each call and an async generator around each stream's chunks
(benchmarks/results/observe.md, round four).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from time import perf_counter
from typing import Any

from ..errors import Overloaded
from .base import Timeout, Transport, UpstreamResponse, UpstreamStream

RETRY_AFTER = "1"

# Where the current request's upstream time goes: an object with a float ``upstream_s``
# (observe.record.Rec), set per request by the observer. A context variable, because the gate is
# handed a URL, not the request.
upstream_clock: ContextVar[Any] = ContextVar("llmg_upstream_clock", default=None)


class Slots:
    """``size`` connection slots with a bounded, first-come wait when they are all taken."""

    __slots__ = ("size", "used", "timeout", "_waiters")

    def __init__(self, size: int, timeout: float) -> None:
        self.size = size
        self.used = 0
        self.timeout = timeout
        self._waiters: deque[asyncio.Future[None]] = deque()

    def take(self) -> bool:
        """A free slot taken at once (the common case), without building a coroutine; False: call acquire."""
        if self.used < self.size and not self._waiters:
            self.used += 1
            return True
        return False

    async def acquire(self, provider: str) -> None:
        if self.take():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.timeout):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we gave up: pass it on
            else:
                waiter.cancel()
            if isinstance(exc, TimeoutError):
                raise Overloaded(f"{provider}: no upstream connection free within server.pool_timeout",
                                 code="pool_timeout", headers={"retry-after": RETRY_AFTER}) from None
            raise

    def release(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # hand this slot straight to the next caller
                return
        self.used -= 1


class GatedTransport:
    """Wraps a transport with the in-flight caps and the pool slots; same interface."""

    def __init__(self, inner: Transport, *, pool_size: int, pool_timeout: float, max_in_flight: int,
                 provider_caps: Mapping[str, int] | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.timed = False  # llmg/observe sets it: upstream time added to upstream_clock's Rec
        self._caps = dict(provider_caps or {})
        self._by_provider: dict[str, int] = dict.fromkeys(self._caps, 0)
        self._plain_slots = Slots(pool_size, pool_timeout)
        self._stream_slots = Slots(pool_size, pool_timeout) if getattr(inner, "separate_pools", False) else self._plain_slots

    def _enter(self, provider: str) -> None:
        if self.in_flight >= self.max_in_flight:
            raise Overloaded("The gateway is at capacity (server.max_in_flight); retry shortly",
                             code="overloaded", headers={"retry-after": RETRY_AFTER})
        cap = self._caps.get(provider)
        if cap is not None:
            count = self._by_provider[provider]
            if count >= cap:
                raise Overloaded(f"{provider}: at capacity (providers.{provider}.max_in_flight); retry shortly",
                                 code="overloaded", headers={"retry-after": RETRY_AFTER})
            self._by_provider[provider] = count + 1
        self.in_flight += 1

    def _leave(self, provider: str) -> None:
        self.in_flight -= 1
        if provider in self._caps:
            self._by_provider[provider] -= 1

    async def request(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None,
                      timeout: Timeout, provider: str) -> UpstreamResponse:
        self._enter(provider)
        clock = upstream_clock.get() if self.timed else None
        t0 = perf_counter() if clock is not None else 0.0  # a pool wait counts: the request waits on upstreams
        try:
            slots = self._plain_slots
            if not slots.take():
                await slots.acquire(provider)
            try:
                return await self.inner.request(method, url, headers=headers, body=body, timeout=timeout, provider=provider)
            finally:
                slots.release()
        finally:
            self._leave(provider)
            if clock is not None:
                clock.upstream_s += perf_counter() - t0

    async def stream(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None,
                     timeout: Timeout, provider: str) -> UpstreamStream:
        self._enter(provider)
        clock = upstream_clock.get() if self.timed else None
        t0 = perf_counter() if clock is not None else 0.0
        slots = self._stream_slots
        try:
            await slots.acquire(provider)
        except BaseException:
            self._leave(provider)
            if clock is not None:
                clock.upstream_s += perf_counter() - t0
            raise
        try:
            stream = await self.inner.stream(method, url, headers=headers, body=body, timeout=timeout, provider=provider)
        except BaseException:
            slots.release()
            self._leave(provider)
            if clock is not None:
                clock.upstream_s += perf_counter() - t0
            raise
        return GatedStream(stream, self, slots, provider, clock, t0)

    async def aclose(self) -> None:
        await self.inner.aclose()


class GatedStream:
    """An open stream holding its slot and its in-flight count until ``aclose`` (once); when
    timed, the whole exchange (open to close) is the request's upstream time."""

    __slots__ = ("_stream", "_gate", "_slots", "_provider", "_clock", "_t0", "status", "headers")

    def __init__(self, stream: UpstreamStream, gate: GatedTransport, slots: Slots, provider: str,
                 clock: Any = None, t0: float = 0.0) -> None:
        self._stream = stream
        self._gate: GatedTransport | None = gate
        self._slots = slots
        self._provider = provider
        self._clock = clock
        self._t0 = t0
        self.status = stream.status
        self.headers = stream.headers

    def chunks(self) -> AsyncIterator[bytes]:
        return self._stream.chunks()

    async def read(self) -> bytes:
        return await self._stream.read()

    async def aclose(self) -> None:
        gate, self._gate = self._gate, None
        if gate is None:
            return
        clock = self._clock
        if clock is not None:  # first: the request may be recorded while the close below awaits
            clock.upstream_s += perf_counter() - self._t0
        try:
            await self._stream.aclose()
        finally:
            self._slots.release()
            gate._leave(self._provider)

    def __del__(self) -> None:
        # Safety net: a stream dropped without aclose (a caller failed between opening and
        # relaying it) must not hold its slot for the life of the worker. The client library
        # closes its own connection when its response object is collected.
        gate, self._gate = self._gate, None
        if gate is not None:
            self._slots.release()
            gate._leave(self._provider)
