"""The only module that talks HTTP to providers.

A ``Transport`` sends one request and returns the whole answer (``request``) or an open stream
(``stream``). Implementations share the interface, selected by ``server.transport``: aiohttp,
httpx, httpx over aiohttp (``httpx-aiohttp``), pyreqwest (Rust reqwest), and ``hybrid`` (the
default: pyreqwest for complete answers, aiohttp for streams; each measured fastest for its kind
in the benchmarks' transport bake-off). One transport, with its pooled client(s), is opened per
worker at server start and closed at stop.

Failures are raised as gateway errors here, once: a refused or broken connection is
``UpstreamUnavailable`` (502) and a timeout is ``UpstreamTimeout`` (504). Messages name the
provider and the kind of failure, never the URL (which may carry credentials) or a header.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from .errors import UpstreamTimeout, UpstreamUnavailable


@dataclass(slots=True, frozen=True)
class Timeout:
    total: float  # whole exchange for a plain request; longest silence between chunks for a stream
    connect: float


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]  # keys lower-cased
    body: bytes


class UpstreamStream(Protocol):
    status: int
    headers: Mapping[str, str]

    def chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive; raises UpstreamUnavailable/UpstreamTimeout mid-way."""
        ...

    async def read(self) -> bytes:
        """The whole (remaining) body: used for error answers."""
        ...

    async def aclose(self) -> None: ...


class Transport(Protocol):
    name: str

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        timeout: Timeout,
        provider: str,
    ) -> UpstreamResponse: ...

    async def stream(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        timeout: Timeout,
        provider: str,
    ) -> UpstreamStream: ...

    async def aclose(self) -> None: ...


def _unavailable(provider: str, exc: BaseException) -> UpstreamUnavailable:
    return UpstreamUnavailable(f"{provider}: upstream connection failed ({type(exc).__name__})", code="upstream_unavailable")


def _timed_out(provider: str) -> UpstreamTimeout:
    return UpstreamTimeout(f"{provider}: upstream timed out", code="upstream_timeout")


# --- aiohttp ------------------------------------------------------------------------------------


class AiohttpTransport:
    name = "aiohttp"

    def __init__(self, pool_size: int = 512) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=pool_size, limit_per_host=pool_size, ttl_dns_cache=300),
            # Bodies are relayed as bytes: no cookie jar, no automatic decompression surprises.
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
        )
        self._timeouts: dict[Timeout, tuple[object, object]] = {}

    def _timeout(self, timeout: Timeout) -> tuple[object, object]:
        # ClientTimeout objects are cached: building one per request is measurable on the hot path.
        cached = self._timeouts.get(timeout)
        if cached is None:
            ct = self._aiohttp.ClientTimeout
            cached = (
                ct(total=timeout.total, sock_connect=timeout.connect),
                ct(total=None, sock_connect=timeout.connect, sock_read=timeout.total),
            )
            self._timeouts[timeout] = cached
        return cached

    async def request(self, method, url, *, headers, body=None, timeout, provider) -> UpstreamResponse:
        plain, _ = self._timeout(timeout)
        try:
            async with self._session.request(method, url, data=body, headers=headers, timeout=plain) as resp:
                data = await resp.read()
                return UpstreamResponse(resp.status, _lower(resp.headers), data)
        except asyncio.TimeoutError:
            raise _timed_out(provider) from None
        except (self._aiohttp.ClientError, OSError) as exc:
            raise _unavailable(provider, exc) from None

    async def stream(self, method, url, *, headers, body=None, timeout, provider) -> UpstreamStream:
        _, streaming = self._timeout(timeout)
        try:
            # sock_read bounds each read only: headers dripped a byte at a time would never time
            # out. The whole wait for the headers is bounded too (tests/faults).
            async with asyncio.timeout(timeout.total):
                resp = await self._session.request(method, url, data=body, headers=headers, timeout=streaming)
        except asyncio.TimeoutError:
            raise _timed_out(provider) from None
        except (self._aiohttp.ClientError, OSError) as exc:
            raise _unavailable(provider, exc) from None
        return _AiohttpStream(resp, provider, self._aiohttp.ClientError)

    async def aclose(self) -> None:
        await self._session.close()


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


class _AiohttpStream:
    def __init__(self, resp, provider: str, client_error: type[BaseException]) -> None:
        self._resp = resp
        self._provider = provider
        self._client_error = client_error
        self.status: int = resp.status
        self.headers = _lower(resp.headers)

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for data in self._resp.content.iter_any():
                yield data
        except asyncio.TimeoutError:
            raise _timed_out(self._provider) from None
        except (self._client_error, OSError) as exc:
            raise _unavailable(self._provider, exc) from None

    async def read(self) -> bytes:
        try:
            return await self._resp.read()
        except (asyncio.TimeoutError, self._client_error, OSError):
            return b""

    async def aclose(self) -> None:
        # close(), not release(): an unfinished stream must not go back to the pool half-read.
        self._resp.close()


# --- httpx --------------------------------------------------------------------------------------


class HttpxTransport:
    name = "httpx"

    def __init__(self, pool_size: int = 512) -> None:
        import httpx

        self._httpx = httpx
        limits = httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
        self._client = httpx.AsyncClient(
            limits=limits,
            timeout=None,
            follow_redirects=False,
            transport=self._wire(limits),
        )
        self._timeouts: dict[Timeout, tuple[object, object]] = {}

    def _wire(self, limits):
        """The httpx transport underneath: None is httpx's own (httpcore)."""
        return None

    def _timeout(self, timeout: Timeout) -> tuple[object, object]:
        cached = self._timeouts.get(timeout)
        if cached is None:
            t = self._httpx.Timeout
            # httpx has no "whole request" timeout: read is per chunk, as for streams.
            cached = (
                t(timeout.total, connect=timeout.connect),
                t(timeout.total, connect=timeout.connect),
            )
            self._timeouts[timeout] = cached
        return cached

    async def request(self, method, url, *, headers, body=None, timeout, provider) -> UpstreamResponse:
        plain, _ = self._timeout(timeout)
        try:
            resp = await asyncio.wait_for(
                self._client.request(method, url, content=body, headers=headers, timeout=plain),
                timeout.total,
            )
        except (asyncio.TimeoutError, self._httpx.TimeoutException):
            raise _timed_out(provider) from None
        except (self._httpx.HTTPError, OSError) as exc:
            raise _unavailable(provider, exc) from None
        return UpstreamResponse(resp.status_code, _lower(resp.headers), resp.content)

    async def stream(self, method, url, *, headers, body=None, timeout, provider) -> UpstreamStream:
        _, streaming = self._timeout(timeout)
        request = self._client.build_request(method, url, content=body, headers=headers, timeout=streaming)
        try:
            async with asyncio.timeout(timeout.total):  # as for aiohttp: bound the wait for the headers
                resp = await self._client.send(request, stream=True)
        except (asyncio.TimeoutError, self._httpx.TimeoutException):
            raise _timed_out(provider) from None
        except (self._httpx.HTTPError, OSError) as exc:
            raise _unavailable(provider, exc) from None
        return _HttpxStream(resp, provider, self._httpx)

    async def aclose(self) -> None:
        await self._client.aclose()


class _HttpxStream:
    def __init__(self, resp, provider: str, httpx_module) -> None:
        self._resp = resp
        self._provider = provider
        self._httpx = httpx_module
        self.status: int = resp.status_code
        self.headers = _lower(resp.headers)

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for data in self._resp.aiter_bytes():
                yield data
        except self._httpx.TimeoutException:
            raise _timed_out(self._provider) from None
        except (self._httpx.HTTPError, OSError) as exc:
            raise _unavailable(self._provider, exc) from None

    async def read(self) -> bytes:
        try:
            return await self._resp.aread()
        except (self._httpx.HTTPError, OSError):
            return b""

    async def aclose(self) -> None:
        await self._resp.aclose()


class HttpxAiohttpTransport(HttpxTransport):
    """httpx's API over aiohttp's connection handling (the ``httpx-aiohttp`` package)."""

    name = "httpx-aiohttp"

    def _wire(self, limits):
        import aiohttp
        from httpx_aiohttp import AiohttpTransport as Wire

        def session() -> aiohttp.ClientSession:
            connector = aiohttp.TCPConnector(limit=limits.max_connections, limit_per_host=limits.max_connections)
            return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

        return Wire(limits=limits, client=session)


# --- pyreqwest (Rust reqwest + tokio, on its own runtime thread) ---------------------------------


class PyreqwestTransport:
    name = "pyreqwest"

    def __init__(self, pool_size: int = 512) -> None:
        from pyreqwest import exceptions
        from pyreqwest.client import ClientBuilder

        self._client = (
            ClientBuilder().max_connections(pool_size).pool_max_idle_per_host(pool_size)
            # Like the aiohttp client: no proxy from the environment, no redirects followed.
            .no_proxy().follow_redirects(False).gzip(True).build()
        )
        self._timed_out_errors = (
            exceptions.ConnectTimeoutError, exceptions.ReadTimeoutError, exceptions.RequestTimeoutError,
            exceptions.PoolTimeoutError, exceptions.WriteTimeoutError, asyncio.TimeoutError,
        )
        self._errors = (exceptions.PyreqwestError, OSError)
        self._deltas: dict[float, object] = {}

    def _delta(self, seconds: float):
        cached = self._deltas.get(seconds)
        if cached is None:
            from datetime import timedelta

            cached = self._deltas[seconds] = timedelta(seconds=seconds)
        return cached

    def _builder(self, method, url, headers, body):
        builder = self._client.request(method, url).headers(headers)
        if body is not None:
            builder = builder.body_bytes(body)
        return builder

    async def request(self, method, url, *, headers, body=None, timeout, provider) -> UpstreamResponse:
        try:
            req = self._builder(method, url, headers, body).timeout(self._delta(timeout.total)).build()
            resp = await req.send()
            data = bytes(await resp.bytes())
        except self._timed_out_errors:
            raise _timed_out(provider) from None
        except self._errors as exc:
            raise _unavailable(provider, exc) from None
        # pyreqwest's HeaderMap is already a case-insensitive mapping with lower-case keys: no copy.
        return UpstreamResponse(resp.status, resp.headers, data)

    async def stream(self, method, url, *, headers, body=None, timeout, provider) -> UpstreamStream:
        ctx = self._builder(method, url, headers, body).build_streamed()
        try:
            resp = await asyncio.wait_for(ctx.__aenter__(), timeout.total)
        except self._timed_out_errors:
            raise _timed_out(provider) from None
        except self._errors as exc:
            raise _unavailable(provider, exc) from None
        return _PyreqwestStream(ctx, resp, provider, timeout.total, self._timed_out_errors, self._errors)

    async def aclose(self) -> None:
        await self._client.close()


class _PyreqwestStream:
    def __init__(self, ctx, resp, provider: str, idle: float, timed_out_errors, errors) -> None:
        self._ctx = ctx
        self._reader = resp.body_reader
        self._provider = provider
        self._idle = idle
        self._timed_out_errors = timed_out_errors
        self._errors = errors
        self.status: int = resp.status
        self.headers = _lower(resp.headers)

    async def chunks(self) -> AsyncIterator[bytes]:
        read = self._reader.read_chunk
        try:
            while True:
                async with asyncio.timeout(self._idle):  # longest silence between chunks
                    data = await read()
                if data is None:
                    return
                yield bytes(data)
        except self._timed_out_errors:
            raise _timed_out(self._provider) from None
        except self._errors as exc:
            raise _unavailable(self._provider, exc) from None

    async def read(self) -> bytes:
        try:
            return bytes(await self._reader.bytes())
        except (*self._timed_out_errors, *self._errors):
            return b""

    async def aclose(self) -> None:
        try:
            await self._ctx.__aexit__(None, None, None)
        except self._errors:
            pass


# --- hybrid: each kind of exchange on the client measured fastest for it --------------------------


class HybridTransport:
    """Complete answers through pyreqwest, streams through aiohttp.

    The bake-off (benchmarks/results) found pyreqwest cheapest per non-streamed request (the
    parsing runs in Rust, off the event loop) but dearer per stream chunk (each chunk crosses from
    its runtime thread back to the loop), where aiohttp's in-loop reads win. Two pools, one per kind.
    """

    name = "hybrid"

    def __init__(self, pool_size: int = 512) -> None:
        self._plain = PyreqwestTransport(pool_size)
        self._streams = AiohttpTransport(pool_size)
        self.request = self._plain.request
        self.stream = self._streams.stream

    async def aclose(self) -> None:
        await self._plain.aclose()
        await self._streams.aclose()


TRANSPORTS: dict[str, type] = {
    "aiohttp": AiohttpTransport,
    "httpx": HttpxTransport,
    "httpx-aiohttp": HttpxAiohttpTransport,
    "pyreqwest": PyreqwestTransport,
    "hybrid": HybridTransport,
}


def open_transport(name: str, pool_size: int) -> Transport:
    return TRANSPORTS[name](pool_size)
