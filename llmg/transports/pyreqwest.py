"""pyreqwest (Rust reqwest + tokio on its own runtime thread): parsing off the event loop, the
cheapest per complete answer (the ``hybrid`` default's plain half).

Known limit (pyreqwest 0.15.1, measured): cancelling the awaiting task does not abort a request
that is still waiting for its response headers; it runs on in Rust until the upstream answers or
its timeout. The gate (``gate.py``) frees the caller's slot at once, and reqwest's own connection
cap is left off so that such a request cannot block the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

from pyreqwest import exceptions
from pyreqwest.client import ClientBuilder
from pyreqwest.http import HeaderMap, Url

from .base import Limits, Timeout, UpstreamResponse, cap_for, declared_length, failure, lower, read_capped, refuse_redirect, too_large

_TIMEOUTS: tuple[type[BaseException], ...] = (
    exceptions.ConnectTimeoutError, exceptions.ReadTimeoutError, exceptions.RequestTimeoutError,
    exceptions.PoolTimeoutError, exceptions.WriteTimeoutError, asyncio.TimeoutError,
)
_FAILURES: tuple[type[BaseException], ...] = (*_TIMEOUTS, exceptions.PyreqwestError, OSError)
# Parsed URLs and converted header maps are kept per worker: parsing the URL and turning the dict
# into a Rust HeaderMap on every request measured as a third of building it (8.8 -> 6.3 us). An
# adapter's URLs and headers are fixed, so a few entries serve every request; the bound keeps
# per-request values (signed or token-bearing headers) from growing the cache.
_CACHE_MAX = 64


class PyreqwestTransport:
    name = "pyreqwest"

    def __init__(self, pool_size: int = 512, *, connect_timeout: float = 10.0, limits: Limits = Limits()) -> None:
        self._limits = limits
        self._client = (
            ClientBuilder().pool_max_idle_per_host(pool_size)
            # No proxy from the environment, no redirects followed, and a connect timeout of its
            # own (reqwest has no per-request one; the value is server.connect_timeout).
            .no_proxy().follow_redirects(False).gzip(True)
            .connect_timeout(timedelta(seconds=connect_timeout)).build()
        )
        self._deltas: dict[float, timedelta] = {}
        self._urls: dict[str, Url] = {}
        # id(headers) -> (a copy of headers, its HeaderMap). The copy is compared with the headers
        # passed in, so a dict changed in place or a new dict at a recycled id never gets a stale map.
        self._header_maps: dict[int, tuple[dict[str, str], HeaderMap]] = {}

    def _delta(self, seconds: float) -> timedelta:
        cached = self._deltas.get(seconds)
        if cached is None:
            cached = self._deltas[seconds] = timedelta(seconds=seconds)
        return cached

    def _url(self, url: str) -> Url | str:
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) >= _CACHE_MAX:
                return url
            parsed = self._urls[url] = Url(url)
        return parsed

    def _header_map(self, headers: Mapping[str, str]) -> HeaderMap | Mapping[str, str]:
        if type(headers) is not dict:
            return headers
        cached = self._header_maps.get(id(headers))
        if cached is not None and cached[0] == headers:
            return cached[1]
        if len(self._header_maps) >= _CACHE_MAX:
            self._header_maps.clear()
        converted = HeaderMap(headers)
        self._header_maps[id(headers)] = (dict(headers), converted)
        return converted

    def _builder(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Any:
        builder = self._client.request(method, self._url(url)).headers(self._header_map(headers))
        if body is not None:
            builder = builder.body_bytes(body)
        return builder

    async def request(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None,
                      timeout: Timeout, provider: str) -> UpstreamResponse:
        # Streamed mode even for complete answers: a consumed request buffers the whole body in
        # Rust before returning, so a hostile upstream could fill memory past any cap.
        ctx = self._builder(method, url, headers, body).timeout(self._delta(timeout.total)).build_streamed()
        try:
            resp = await ctx.__aenter__()
            try:
                status = resp.status
                refuse_redirect(status, provider)
                cap = cap_for(status, self._limits)
                # pyreqwest's HeaderMap is already case-insensitive with lower-case keys: no copy.
                resp_headers = resp.headers
                length = declared_length(resp_headers)
                if length is not None and length <= cap:
                    data = bytes(await resp.bytes())
                elif length is not None:
                    raise too_large(provider, cap)
                else:
                    data = await read_capped(_chunks(resp.body_reader), cap, provider)
            finally:
                await ctx.__aexit__(None, None, None)
        except _FAILURES as exc:
            raise failure(exc, provider, _TIMEOUTS) from None
        return UpstreamResponse(status, resp_headers, data)

    async def stream(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None,
                     timeout: Timeout, provider: str) -> PyreqwestStream:
        # Buffer limit 0: by default pyreqwest holds the response back until 64 KiB of body (or
        # its end) arrived, which delays a stream's first event until the upstream says more.
        ctx = self._builder(method, url, headers, body).streamed_read_buffer_limit(0).build_streamed()
        try:
            resp = await asyncio.wait_for(ctx.__aenter__(), timeout.total)
        except _FAILURES as exc:
            raise failure(exc, provider, _TIMEOUTS) from None
        stream = PyreqwestStream(ctx, resp, provider, timeout.total, self._limits)
        try:
            refuse_redirect(resp.status, provider)
        except BaseException:
            await stream.aclose()
            raise
        return stream

    async def aclose(self) -> None:
        await self._client.close()


async def _chunks(reader: Any) -> AsyncIterator[bytes]:
    read = reader.read_chunk
    while (data := await read()) is not None:
        yield bytes(data)


class PyreqwestStream:
    def __init__(self, ctx: Any, resp: Any, provider: str, idle: float, limits: Limits) -> None:
        self._ctx = ctx
        self._reader = resp.body_reader
        self._provider = provider
        self._idle = idle
        self._limits = limits
        self.status: int = resp.status
        self.headers: Mapping[str, str] = lower(resp.headers)

    async def chunks(self) -> AsyncIterator[bytes]:
        read = self._reader.read_chunk
        try:
            while True:
                async with asyncio.timeout(self._idle):  # longest silence between chunks
                    data = await read()
                if data is None:
                    return
                yield bytes(data)
        except _FAILURES as exc:
            raise failure(exc, self._provider, _TIMEOUTS) from None

    async def read(self) -> bytes:
        try:
            return await read_capped(_chunks(self._reader), self._limits.max_error_body, self._provider)
        except _FAILURES:
            return b""

    async def aclose(self) -> None:
        try:
            await self._ctx.__aexit__(None, None, None)
        except _FAILURES:
            pass
