"""Writing an SSE stream to the client: the Sanic side of streaming.

The SSE codec itself (framing, ``SSEParser``, ``relay_sse``) is framework-free and lives in
``llmg.sse``; its names are re-exported here for code written before the split.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from time import monotonic
from typing import Any

from sanic import Request
from sanic.exceptions import RequestCancelled
from sanic.http import Http

from .errors import GatewayError, ProviderError
from .logs import upstream_failure
from .sse import DONE, KEEPALIVE, SSEEvent, SSEParser, event, event_json, relay_sse, sse_events

__all__ = ["DONE", "KEEPALIVE", "SSEEvent", "SSEParser", "event", "event_json", "relay_sse", "send_stream", "sse_events"]

_log = logging.getLogger("llmg.streaming")
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_CHUNKED = Http.http1_response_chunked
_SEND_SIGNAL = "http.lifecycle.send"


def _direct_writer(request: Request) -> Any:
    """A writer for the chunks between the first and the last, or None to leave them to Sanic.

    Sanic's ``response.send`` costs, per chunk, a coroutine chain, an ``http.lifecycle.send``
    signal dispatch (a router lookup even when nothing listens) and the chunked framing. The
    middle chunks of an HTTP/1.1 chunked stream need only the framing, the flow-control wait and
    the response-timeout clock, so they are written here; the first (with the head) and the last
    (which ends Sanic's response state) still go through Sanic. Used only where that is exactly
    equivalent: Sanic's HTTP/1.1 chunked path, and no handler on the send signal.
    """
    http = request.stream
    if type(http) is not Http or getattr(http.response_func, "__func__", None) is not _CHUNKED:
        return None
    app_ctx = request.app.ctx
    listened = getattr(app_ctx, "send_signal_listened", None)
    if listened is None:
        # A signal's route is named by its event; a parameterised one ("<...>") might match it too.
        listened = any(r.name == _SEND_SIGNAL or "<" in r.name for r in request.app.signal_router.routes)
        app_ctx.send_signal_listened = listened
    if listened:
        return None
    protocol = http.protocol
    transport = protocol.transport
    if transport is None:
        return None
    can_write = protocol._can_write  # Sanic's own backpressure event (pause_writing)
    write = transport.write

    async def send(data: bytes) -> None:
        if not can_write.is_set():  # the client reads slower than we write: wait, as Sanic does
            await can_write.wait()
        if transport.is_closing():
            raise RequestCancelled
        write(b"%x\r\n%b\r\n" % (len(data), data))
        protocol._time = monotonic()  # the response timeout restarts on each write, as in Sanic

    return send


async def send_stream(request: Request, chunks: AsyncIterator[bytes], headers: dict[str, str] | None = None) -> None:
    """Write SSE chunks to the client as they arrive.

    A failure after the first byte cannot change the status any more, so it is reported as an
    error event followed by ``[DONE]``. If the client goes away, Sanic cancels this task; the
    cancellation closes ``chunks`` (and with it the upstream request) on the way out.
    """
    lifecycle = getattr(request.app.ctx, "lifecycle", None)
    if lifecycle is not None:  # registered as an open stream, so that a drain can end it cleanly
        chunks = lifecycle.track(chunks)
    ctx = request.ctx
    # A per-request filter over the outgoing events: llmg/limits meters TPM usage through it.
    wrap = getattr(ctx, "wrap_stream", None)
    if wrap is not None:
        chunks = wrap(chunks)
    # llmg/observe: its meter's filter per chunk, the first chunk's time, the stream's end.
    watch = getattr(ctx, "stream_watch", None)
    feed = watch.feed if watch is not None else None
    # `headers`: extra response headers (a routing group's x-llmg-deployment / x-llmg-attempts).
    response = await request.respond(
        content_type="text/event-stream", headers={**_SSE_HEADERS, **headers} if headers else _SSE_HEADERS
    )
    assert response is not None
    ended = False
    send: Any = None  # set after the first chunk, which goes out with the head in one write
    try:
        async for chunk in chunks:
            if ended:
                continue  # nothing may follow [DONE]; keep draining so the upstream is read to its end
            if feed is not None:
                chunk = feed(chunk)
                if not chunk:
                    continue  # held back (an unfinished event) or the usage chunk the client did not ask for
            if chunk.endswith(DONE):
                if send is None and watch is not None:  # the whole stream in its first chunk
                    watch.first()
                # The last event and the chunked-body terminator go out in one write, not two.
                await response.send(chunk, end_stream=True)
                ended = True
            elif send is not None:
                if chunk:
                    await send(chunk)
            else:
                if watch is not None:
                    watch.first()
                await response.send(chunk)
                send = _direct_writer(request) or response.send
        if watch is not None and not ended and (rest := watch.rest()):
            await response.send(rest)
    except GatewayError as exc:
        ctx.error = exc  # observe
        upstream_failure(request, exc)
        if not ended:
            await response.send(exc.event() + DONE)
    except Exception:
        _log.exception("stream failed after it started")
        ctx.error = failure = ProviderError("stream interrupted", code="stream_error")  # observe
        if not ended:
            await response.send(failure.event() + DONE)
    finally:
        if watch is not None:
            watch.end()
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    await response.eof()  # a no-op when the [DONE] chunk already ended the body
