"""h1: a lean HTTP/1.1 client on the worker's own event loop (issue 19).

Why: pyreqwest hands each request to its Rust runtime thread and back (a third of a worker's
profile at c1), aiohttp spends 140-240 us of CPU per request in its Python layers; one
``asyncio.Protocol`` per connection with llhttp (``httptools``, already Sanic's dependency)
parsing the answer does the same exchange with a few Python calls.

- Requests go out as one bytes buffer: the header block is cached per headers dict (adapters pass
  the same dict every time), the body appended. Answers: Content-Length, chunked, or delimited by
  the close; HEAD/1xx/204/304 carry no body; ``Connection: close`` and HTTP/1.0 close after.
- A keep-alive pool per origin (scheme, host, port): LIFO idle list, at most ``pool_size``
  connections per origin. A connection goes back only when its answer was read whole and it may
  be kept alive; a cancelled, failed, timed-out or half-read exchange closes its connection.
- Retry, once: a request written to a *reused* idle connection that the server had closed (its
  keep-alive ran out while the request was under way) fails with nothing received; it is sent
  again on a new connection. The upstream answered nothing, so it never saw the request or
  dropped it unprocessed, which is what browsers and RFC 9112 section 9.3.1 assume for a request
  they retry automatically. A fresh connection is never retried.
- Bounds as in ``base.py``: the connect timeout (server.connect_timeout), ``Timeout.total`` for
  the whole plain exchange and for the wait for a stream's headers then each silence between its
  chunks, the body caps, no redirects, no proxy from the environment (as the other transports),
  TLS with the default verified context for https.
- Streams read with flow control: reading pauses while more than ``_HIGH_WATER`` bytes wait
  unconsumed and resumes below ``_LOW_WATER``.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

from .base import Limits, Timeout, UpstreamResponse, cap_for, declared_length, failure, refuse_redirect, too_large

_TIMEOUTS: tuple[type[BaseException], ...] = (TimeoutError,)
_FAILURES: tuple[type[BaseException], ...] = (TimeoutError, OSError, HttpParserError, HttpParserUpgrade, ValueError)
_CACHE_MAX = 64  # parsed URLs and header blocks kept per worker (as pyreqwest.py, same reasons)
_HIGH_WATER = 256 * 1024  # unconsumed body bytes that pause reading from the socket
_LOW_WATER = 64 * 1024
_MAX_HEAD = 64 * 1024  # an answer's status line and headers; more is a broken (or hostile) upstream
_SKIPPED = frozenset(("host", "content-length", "transfer-encoding", "connection"))  # ours to write


class ConnectionLost(ConnectionError):
    """The upstream closed the connection (or broke the framing) before the answer was whole."""


Origin = tuple[str, str, int]  # (scheme, host, port)


class _Conn(asyncio.Protocol):
    """One connection and the answer being read on it (one exchange at a time)."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = HttpResponseParser(self)
        self.closed = False
        self.busy = False
        self.counted = True  # in its pool's open count until _gone
        self.timer: asyncio.TimerHandle | None = None
        self._begin(False)

    def _begin(self, head_only: bool) -> None:
        self.head_only = head_only
        self.received = False
        self.status = 0
        self.headers: dict[str, str] = {}
        self.head_size = 0
        self.head: asyncio.Future[None] | None = None
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.complete = False
        self.keep_alive = False
        self.until_close = False
        self.informational = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.paused = False

    def start(self, data: bytes, head_only: bool, deadline: float | None = None) -> asyncio.Future[None]:
        """Write the request; the future resolves with the answer's headers. ``deadline`` (loop
        time): the exchange fails with TimeoutError then, through the futures it waits on; cheaper
        than an ``asyncio.timeout`` block (no Task cancel and uncancel, five Python calls less)."""
        self._begin(head_only)
        self.busy = True
        loop = self.pool.loop
        head = self.head = loop.create_future()
        if deadline is not None:
            self.timer = loop.call_at(deadline, self._expire)
        if self.closed or self.transport is None or self.transport.is_closing():
            # Closed by the server between the connect (or the pool) and now: nothing was sent.
            self.abort()
            head.set_exception(ConnectionLost("connection closed by the upstream"))
            return head
        self.transport.write(data)
        return head

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.busy or self.complete:  # bytes nobody asked for: the connection is not reusable
            self.abort()
            return
        self.received = True
        try:
            self.parser.feed_data(data)
        except HttpParserUpgrade:
            self._fail(ConnectionLost("upgrade refused"))
        except Exception as exc:  # a framing error, or a callback's (headers over _MAX_HEAD)
            self._fail(exc if isinstance(exc, _FAILURES) else ConnectionLost("malformed answer"))

    def eof_received(self) -> bool:
        return False  # close our end too: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.busy and not self.complete:
            if self.until_close and self.head is not None and self.head.done():
                self.on_message_complete()  # a body delimited by the close: the close ends it
            else:
                self._fail(ConnectionLost("connection closed by the upstream"))
        self._wake()

    # --- httptools callbacks ---

    def on_message_begin(self) -> None:
        if self.complete:  # a second answer to one request: never parse it into this one, never reuse
            raise ConnectionLost("bytes after the answer")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_size += len(name) + len(value)
        if self.head_size > _MAX_HEAD:
            raise ValueError("answer headers too large")
        # bytes.lower() is ASCII-only, which is all a header name may hold (RFC 9110 tokens, llhttp
        # refuses anything else): one call less per header than decoding and then lowercasing text.
        key = name.lower().decode("latin-1")
        text = value.decode("latin-1")
        headers = self.headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue, 103): the real one follows
            self.informational = True
            self.headers = {}
            return
        self.status = status
        self.keep_alive = self.parser.should_keep_alive()
        headers = self.headers
        self.until_close = (status not in (204, 304) and not self.head_only and "content-length" not in headers
                            and "chunked" not in headers.get("transfer-encoding", ""))
        if self.until_close:
            self.keep_alive = False
        if self.head is not None and not self.head.done():
            self.head.set_result(None)
        if self.head_only:  # llhttp does not know the request was HEAD: the answer ends here
            self.keep_alive = False
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
            return
        if self.complete:
            return
        self.complete = True
        self._wake()

    # --- the reader's side ---

    def _fail(self, exc: BaseException) -> None:
        if self.error is None and not self.complete:
            self.error = exc
        head = self.head
        if head is not None and not head.done():
            head.set_exception(exc)
        self.abort()
        self._wake()

    def _expire(self) -> None:
        self.timer = None
        if self.busy and not self.complete:
            self._fail(TimeoutError())

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next_chunk(self) -> bytes | None:
        """The next body bytes, None at the end of the answer."""
        while True:
            if self.chunks:
                data = self.chunks.popleft()
                self.buffered -= len(data)
                if self.paused and self.buffered < _LOW_WATER and self.transport is not None:
                    self.paused = False
                    self.transport.resume_reading()
                return data
            if self.complete:
                return None
            if self.error is not None:
                raise self.error
            self.waiter = self.pool.loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None

    def take_buffered(self, first: bytes) -> bytes:
        """``first`` and every body chunk already buffered behind it, as one: when one socket read
        carried several upstream chunks, the relay then handles (and writes) them once."""
        parts = [first]
        chunks = self.chunks
        while chunks:
            data = chunks.popleft()
            self.buffered -= len(data)
            parts.append(data)
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return b"".join(parts)

    @property
    def reusable(self) -> bool:
        return self.complete and self.keep_alive and self.error is None and not self.closed and not self.chunks

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def finish(self) -> None:
        """The exchange is over: back to the pool if the answer was read whole and may be kept."""
        timer = self.timer
        if timer is not None:
            self.timer = None
            timer.cancel()
        if not self.busy:
            return
        self.busy = False
        self.pool.release(self)


class _Pool:
    """The connections to one origin: idle ones LIFO (the warmest first), at most ``size`` open."""

    def __init__(self, owner: H1Transport, origin: Origin) -> None:
        self.owner = owner
        self.loop = asyncio.get_running_loop()
        self.origin = origin
        self.idle: list[_Conn] = []
        self.open = 0
        self.waiters: deque[asyncio.Future[None]] = deque()

    def take_idle(self) -> _Conn | None:
        """The warmest idle connection still open, without awaiting anything (the plain fast path)."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            transport = conn.transport
            if not conn.closed and transport is not None and not transport.is_closing():
                return conn
            self._gone(conn)
        return None

    async def checkout(self, connect_timeout: float) -> tuple[_Conn, bool]:
        """A connection and whether it was reused (only a reused one may be retried)."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            transport = conn.transport
            if not conn.closed and transport is not None and not transport.is_closing():
                return conn, True
            self._gone(conn)
        while self.open >= self.owner.pool_size:  # the gate in front keeps this rare
            waiter = self.loop.create_future()
            self.waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self.waiters:
                    self.waiters.remove(waiter)
            while idle:
                conn = idle.pop()
                if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                    return conn, True
                self._gone(conn)
        return await self.connect(connect_timeout), False

    async def connect(self, connect_timeout: float) -> _Conn:
        scheme, host, port = self.origin
        self.open += 1
        try:
            async with asyncio.timeout(connect_timeout):
                if scheme == "https":
                    _, conn = await self.loop.create_connection(lambda: _Conn(self), host, port,
                                                                ssl=self.owner.ssl_context, server_hostname=host)
                else:
                    _, conn = await self.loop.create_connection(lambda: _Conn(self), host, port)
        except BaseException:
            self.open -= 1
            self._notify()
            raise
        return conn

    def release(self, conn: _Conn) -> None:
        if conn.reusable and not self.owner.closed and len(self.idle) < self.owner.pool_size:
            # Not reset here: ``start`` resets it for the next exchange (once per request, not twice);
            # while idle, ``busy`` is False, so any byte or close from the server just retires it.
            self.idle.append(conn)
        else:
            conn.abort()
            self._gone(conn)
        self._notify()

    def _gone(self, conn: _Conn) -> None:
        if conn.counted:
            conn.counted = False
            self.open -= 1

    def _notify(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        for conn in self.idle:
            conn.abort()
        self.idle.clear()


class H1Transport:
    name = "h1"

    def __init__(self, pool_size: int = 512, *, connect_timeout: float = 10.0, limits: Limits = Limits(),
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._limits = limits
        self.closed = False
        self._ssl = ssl_context  # None: the system's trust store, hostname checked (built on first use)
        self._pools: dict[Origin, _Pool] = {}
        self._targets: dict[str, tuple[Origin, str, str]] = {}
        # id(headers) -> (a copy of headers, its encoded block): see pyreqwest.py's header maps.
        self._blocks: dict[int, tuple[dict[str, str], str, bool]] = {}
        # (method, url, id(headers)) -> (a copy of headers, origin, the head up to Content-Length):
        # an adapter sends the same few combinations, so the static part is encoded once.
        self._heads: dict[tuple[str, str, int], tuple[dict[str, str], Origin, bytes]] = {}

    @property
    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    # --- building the request ---

    def _target(self, url: str) -> tuple[Origin, str, str]:
        cached = self._targets.get(url)
        if cached is not None:
            return cached
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("unsupported upstream URL")
        default = 443 if scheme == "https" else 80
        port = parts.port or default
        host = parts.hostname
        name = f"[{host}]" if ":" in host else host
        host_header = name if port == default else f"{name}:{port}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        target = ((scheme, host, port), path, host_header)
        if len(self._targets) < _CACHE_MAX:
            self._targets[url] = target
        return target

    def _block(self, headers: Mapping[str, str]) -> tuple[str, bool]:
        """The header lines (ours excluded) and whether the caller set Host itself (a signed request)."""
        if type(headers) is dict:
            cached = self._blocks.get(id(headers))
            if cached is not None and cached[0] == headers:
                return cached[1], cached[2]
        lines = []
        has_host = False
        for key, value in headers.items():
            lowered = key.lower()
            if lowered == "host":
                has_host = True
            elif lowered in _SKIPPED:
                continue
            lines.append(f"{key}: {value}\r\n")
        block = "".join(lines)
        # A CR or LF inside a name or value would split the header (request smuggling): refuse.
        if block.count("\n") != len(lines) or block.count("\r") != len(lines):
            raise ValueError("header value with a line break")
        if type(headers) is dict:
            if len(self._blocks) >= _CACHE_MAX:
                self._blocks.clear()
            self._blocks[id(headers)] = (dict(headers), block, has_host)
        return block, has_host

    def _encode(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> tuple[Origin, bytes]:
        if body is not None and type(headers) is dict:
            key = (method, url, id(headers))
            cached = self._heads.get(key)
            if cached is not None and cached[0] == headers:
                return cached[1], b"%bcontent-length: %d\r\n\r\n%b" % (cached[2], len(body), body)
            origin, path, host_header = self._target(url)
            block, has_host = self._block(headers)
            host_line = "" if has_host else f"host: {host_header}\r\n"
            prefix = f"{method} {path} HTTP/1.1\r\n{host_line}{block}".encode("latin-1")
            if len(self._heads) >= _CACHE_MAX:
                self._heads.clear()
            self._heads[key] = (dict(headers), origin, prefix)
            return origin, b"%bcontent-length: %d\r\n\r\n%b" % (prefix, len(body), body)
        origin, path, host_header = self._target(url)
        block, has_host = self._block(headers)
        host_line = "" if has_host else f"host: {host_header}\r\n"
        length = f"content-length: {len(body)}\r\n" if body is not None else (
            "content-length: 0\r\n" if method in ("POST", "PUT", "PATCH") else "")
        head = f"{method} {path} HTTP/1.1\r\n{host_line}{block}{length}\r\n".encode("latin-1")
        return origin, head + body if body else head

    def _pool(self, origin: Origin) -> _Pool:
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = _Pool(self, origin)
        return pool

    async def _send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None,
                    timeout: Timeout, deadline: float | None = None) -> _Conn:
        """Write the request and wait for the answer's headers. ``deadline`` None: the caller bounds
        the wait; else it bounds the whole exchange (the pool wait and connects included)."""
        if self.closed:
            raise ConnectionLost("transport closed")
        origin, data = self._encode(method, url, headers, body)
        pool = self._pool(origin)
        connect = min(self._connect_timeout, timeout.connect)
        head_only = method == "HEAD"
        if deadline is None:
            conn, reused = await pool.checkout(connect)
        else:
            idle = pool.take_idle()
            if idle is not None:
                conn, reused = idle, True
            else:
                async with asyncio.timeout_at(deadline):  # a connect or a wait for a slot: rare
                    conn, reused = await pool.checkout(connect)
        try:
            try:
                await conn.start(data, head_only, deadline)
            except ConnectionLost:
                if not (reused and not conn.received):
                    raise
                # A stale keep-alive connection that answered nothing: once more on a new one.
                conn.finish()
                if deadline is None:
                    conn = await pool.connect(connect)
                else:
                    async with asyncio.timeout_at(deadline):
                        conn = await pool.connect(connect)
                await conn.start(data, head_only, deadline)
        except BaseException:
            conn.abort()
            conn.finish()
            raise
        return conn

    # --- the Transport protocol ---

    async def request(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None,
                      timeout: Timeout, provider: str) -> UpstreamResponse:
        conn: _Conn | None = None
        try:
            # The total bound is a timer on the connection (see _Conn.start), not asyncio.timeout.
            deadline = asyncio.get_running_loop().time() + timeout.total
            conn = await self._send(method, url, headers, body, timeout, deadline)
            status = conn.status
            resp_headers = conn.headers
            refuse_redirect(status, provider)
            cap = cap_for(status, self._limits)
            length = declared_length(resp_headers)
            if length is not None and length > cap:
                raise too_large(provider, cap)
            data = await _read_body(conn, cap, provider, resp_headers.get("content-encoding"))
            conn.finish()
            return UpstreamResponse(status, resp_headers, data)
        except BaseException as exc:
            if conn is not None:
                conn.abort()
                conn.finish()
            if isinstance(exc, _FAILURES):
                raise failure(exc, provider, _TIMEOUTS) from None
            raise

    async def stream(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None,
                     timeout: Timeout, provider: str) -> H1Stream:
        try:
            async with asyncio.timeout(timeout.total):  # the whole wait for the headers
                conn = await self._send(method, url, headers, body, timeout)
        except _FAILURES as exc:
            raise failure(exc, provider, _TIMEOUTS) from None
        stream = H1Stream(conn, provider, timeout.total, self._limits)
        try:
            refuse_redirect(conn.status, provider)
        except BaseException:
            await stream.aclose()
            raise
        return stream

    async def aclose(self) -> None:
        self.closed = True
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


async def _read_body(conn: _Conn, cap: int, provider: str, encoding: str | None) -> bytes:
    """The whole body, failing as soon as it passes ``cap`` (decoded size, when compressed)."""
    decoder: Any = None
    if encoding:  # never asked for (no Accept-Encoding is sent), but decoded if sent anyway
        enc = encoding.strip().lower()
        if enc in ("gzip", "x-gzip"):
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            decoder = zlib.decompressobj()
    parts: list[bytes] = []
    size = 0
    next_chunk = conn.next_chunk
    while (data := await next_chunk()) is not None:
        if decoder is not None:
            data = decoder.decompress(data, cap + 1 - size)
        size += len(data)
        if size > cap:
            raise too_large(provider, cap)
        parts.append(data)
    if decoder is not None:
        tail = decoder.flush()
        size += len(tail)
        if size > cap:
            raise too_large(provider, cap)
        parts.append(tail)
    if len(parts) == 1:
        return parts[0]
    return b"".join(parts)


class H1Stream:
    """An open answer: body bytes as they arrive; its connection returns to the pool only when
    the answer was read whole before ``aclose``."""

    __slots__ = ("_conn", "_provider", "_idle", "_limits", "_closed", "status", "headers", "_since", "_timer")

    def __init__(self, conn: _Conn, provider: str, idle: float, limits: Limits) -> None:
        self._conn = conn
        self._provider = provider
        self._idle = idle
        self._limits = limits
        self._closed = False  # aclose ran: the connection may already serve another request
        self.status: int = conn.status
        self.headers: Mapping[str, str] = conn.headers
        self._since = 0.0  # when the current wait for a chunk began
        self._timer: asyncio.TimerHandle | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        # The idle deadline (longest silence between chunks) is one timer for the whole stream,
        # not an asyncio.timeout per chunk: each wait only notes when it began, and the timer,
        # when it fires, fails the wait if it has lasted ``idle`` or re-arms for when it would.
        # A short stream thus arms one timer instead of one context manager + timer per chunk.
        conn = self._conn
        next_chunk = conn.next_chunk
        loop = conn.pool.loop
        try:
            while True:
                if not conn.chunks and not conn.complete and conn.error is None:  # it will wait
                    self._since = loop.time()
                    if self._timer is None:
                        self._timer = loop.call_at(self._since + self._idle, self._check_idle)
                data = await next_chunk()
                if data is None:
                    return
                if conn.chunks:  # more arrived with it: one chunk, so one pass down the relay, one write
                    data = conn.take_buffered(data)
                yield data
        except _FAILURES as exc:
            raise failure(exc, self._provider, _TIMEOUTS) from None
        finally:
            self._disarm()

    def _check_idle(self) -> None:
        self._timer = None
        waiter = self._conn.waiter
        if waiter is None or waiter.done():
            return  # not waiting now: the next wait arms a new timer
        due = self._since + self._idle
        loop = self._conn.pool.loop
        if loop.time() >= due:
            waiter.set_exception(TimeoutError())
        else:
            self._timer = loop.call_at(due, self._check_idle)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def read(self) -> bytes:
        cap = self._limits.max_error_body
        length = declared_length(self.headers)
        if length is not None and length > cap:
            raise too_large(self._provider, cap)
        try:
            async with asyncio.timeout(self._idle):
                return await _read_body(self._conn, cap, self._provider, self.headers.get("content-encoding"))
        except _FAILURES:
            return b""

    async def aclose(self) -> None:
        self._disarm()
        if self._closed:
            return
        self._closed = True
        conn = self._conn
        if not conn.reusable:
            conn.abort()
        conn.finish()

    def __del__(self) -> None:
        # Dropped without aclose (a caller failed between opening and relaying it): close the
        # connection rather than leave it open, unread, for the life of the worker. After aclose
        # the connection may be back in the pool and busy with another request: never touch it.
        if self._closed:
            return
        conn = self._conn
        if conn.busy:
            conn.abort()
            conn.finish()
