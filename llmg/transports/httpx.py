"""httpx (over httpcore), and httpx's API over aiohttp's connections (``httpx-aiohttp``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from .base import Limits, Timeout, UpstreamResponse, cap_for, declared_length, failure, lower, read_capped, refuse_redirect, too_large

_TIMEOUTS: tuple[type[BaseException], ...] = (asyncio.TimeoutError, httpx.TimeoutException)
_FAILURES: tuple[type[BaseException], ...] = (asyncio.TimeoutError, httpx.HTTPError, OSError)


class HttpxTransport:
    name = "httpx"

    def __init__(self, pool_size: int = 512, *, connect_timeout: float = 10.0, limits: Limits = Limits()) -> None:
        self._limits = limits
        pool = httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
        self._client = httpx.AsyncClient(limits=pool, timeout=None, follow_redirects=False, transport=self._wire(pool))
        self._timeouts: dict[Timeout, httpx.Timeout] = {}

    def _wire(self, limits: httpx.Limits) -> Any:
        """The httpx transport underneath: None is httpx's own (httpcore)."""
        return None

    def _timeout(self, timeout: Timeout) -> httpx.Timeout:
        cached = self._timeouts.get(timeout)
        if cached is None:
            # httpx has no "whole request" timeout: read is per chunk; request() adds the total.
            cached = self._timeouts[timeout] = httpx.Timeout(timeout.total, connect=timeout.connect)
        return cached

    async def request(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None,
                      timeout: Timeout, provider: str) -> UpstreamResponse:
        client = self._client
        try:
            async with asyncio.timeout(timeout.total):
                resp = await client.send(client.build_request(method, url, content=body, headers=headers,
                                                              timeout=self._timeout(timeout)), stream=True)
                try:
                    status = resp.status_code
                    refuse_redirect(status, provider)
                    cap = cap_for(status, self._limits)
                    length = declared_length(resp.headers)
                    if length is not None and length <= cap:
                        data = await resp.aread()
                    elif length is not None:
                        raise too_large(provider, cap)
                    else:
                        data = await read_capped(resp.aiter_bytes(), cap, provider)
                finally:
                    await resp.aclose()
        except _FAILURES as exc:
            raise failure(exc, provider, _TIMEOUTS) from None
        return UpstreamResponse(status, lower(resp.headers), data)

    async def stream(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None,
                     timeout: Timeout, provider: str) -> HttpxStream:
        client = self._client
        request = client.build_request(method, url, content=body, headers=headers, timeout=self._timeout(timeout))
        try:
            async with asyncio.timeout(timeout.total):  # as for aiohttp: bound the wait for the headers
                resp = await client.send(request, stream=True)
        except _FAILURES as exc:
            raise failure(exc, provider, _TIMEOUTS) from None
        try:
            refuse_redirect(resp.status_code, provider)
        except BaseException:
            await resp.aclose()
            raise
        return HttpxStream(resp, provider, self._limits)

    async def aclose(self) -> None:
        await self._client.aclose()


class HttpxStream:
    def __init__(self, resp: Any, provider: str, limits: Limits) -> None:
        self._resp = resp
        self._provider = provider
        self._limits = limits
        self.status: int = resp.status_code
        self.headers: Mapping[str, str] = lower(resp.headers)

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for data in self._resp.aiter_bytes():
                yield data
        except _FAILURES as exc:
            raise failure(exc, self._provider, _TIMEOUTS) from None

    async def read(self) -> bytes:
        try:
            return await read_capped(self._resp.aiter_bytes(), self._limits.max_error_body, self._provider)
        except _FAILURES:
            return b""

    async def aclose(self) -> None:
        await self._resp.aclose()


class HttpxAiohttpTransport(HttpxTransport):
    """httpx's API over aiohttp's connection handling (the ``httpx-aiohttp`` package)."""

    name = "httpx-aiohttp"

    def _wire(self, limits: httpx.Limits) -> Any:
        import aiohttp
        from httpx_aiohttp import AiohttpTransport as Wire

        def session() -> aiohttp.ClientSession:
            connector = aiohttp.TCPConnector(limit=limits.max_connections or 0, limit_per_host=limits.max_connections or 0)
            return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

        return Wire(limits=limits, client=session)
