"""aiohttp: in-loop reads, the cheapest per stream chunk (the ``hybrid`` default's stream half)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from .base import Limits, Timeout, UpstreamResponse, cap_for, declared_length, failure, lower, read_capped, refuse_redirect, too_large

_TIMEOUTS: tuple[type[BaseException], ...] = (asyncio.TimeoutError,)  # aiohttp's own timeouts subclass it
_FAILURES: tuple[type[BaseException], ...] = (asyncio.TimeoutError, aiohttp.ClientError, OSError)


class AiohttpTransport:
    name = "aiohttp"

    def __init__(self, pool_size: int = 512, *, connect_timeout: float = 10.0, limits: Limits = Limits()) -> None:
        self._limits = limits
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=pool_size, limit_per_host=pool_size, ttl_dns_cache=300),
            # Bodies are relayed as bytes: no cookie jar, no automatic decompression surprises.
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
        )
        self._timeouts: dict[Timeout, tuple[aiohttp.ClientTimeout, aiohttp.ClientTimeout]] = {}

    def _timeout(self, timeout: Timeout) -> tuple[aiohttp.ClientTimeout, aiohttp.ClientTimeout]:
        # ClientTimeout objects are cached: building one per request is measurable on the hot path.
        cached = self._timeouts.get(timeout)
        if cached is None:
            ct = aiohttp.ClientTimeout
            cached = (
                ct(total=timeout.total, sock_connect=timeout.connect),
                ct(total=None, sock_connect=timeout.connect, sock_read=timeout.total),
            )
            self._timeouts[timeout] = cached
        return cached

    async def request(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None,
                      timeout: Timeout, provider: str) -> UpstreamResponse:
        plain, _ = self._timeout(timeout)
        try:
            # allow_redirects=False: aiohttp follows 10 by default, sending every key header but
            # Authorization to the new host.
            async with self._session.request(method, url, data=body, headers=headers, timeout=plain,
                                             allow_redirects=False) as resp:
                status = resp.status
                refuse_redirect(status, provider)
                cap = cap_for(status, self._limits)
                length = declared_length(resp.headers)
                if length is not None and length <= cap:
                    data = await resp.read()
                elif length is not None:
                    raise too_large(provider, cap)
                else:
                    data = await read_capped(resp.content.iter_any(), cap, provider)
                return UpstreamResponse(status, lower(resp.headers), data)
        except _FAILURES as exc:
            raise failure(exc, provider, _TIMEOUTS) from None

    async def stream(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None,
                     timeout: Timeout, provider: str) -> AiohttpStream:
        _, streaming = self._timeout(timeout)
        try:
            # sock_read bounds each read only: headers dripped a byte at a time would never time
            # out. The whole wait for the headers is bounded too (tests/faults).
            async with asyncio.timeout(timeout.total):
                resp = await self._session.request(method, url, data=body, headers=headers, timeout=streaming,
                                                   allow_redirects=False)
        except _FAILURES as exc:
            raise failure(exc, provider, _TIMEOUTS) from None
        try:
            refuse_redirect(resp.status, provider)
        except BaseException:
            resp.close()
            raise
        return AiohttpStream(resp, provider, self._limits)

    async def aclose(self) -> None:
        await self._session.close()


class AiohttpStream:
    def __init__(self, resp: Any, provider: str, limits: Limits) -> None:
        self._resp = resp
        self._provider = provider
        self._limits = limits
        self.status: int = resp.status
        self.headers: Mapping[str, str] = lower(resp.headers)

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for data in self._resp.content.iter_any():
                yield data
        except _FAILURES as exc:
            raise failure(exc, self._provider, _TIMEOUTS) from None

    async def read(self) -> bytes:
        try:
            return await read_capped(self._resp.content.iter_any(), self._limits.max_error_body, self._provider)
        except _FAILURES:
            return b""

    async def aclose(self) -> None:
        # A body read to its end is already back in the pool: aiohttp releases the connection the
        # moment the payload ends, and close() is then a no-op (tests/integration/test_stream_reuse.py).
        # Half-read (client gone, upstream cut short): close(), never release(), so that no
        # connection goes back to the pool mid-body.
        self._resp.close()
