"""Writing an SSE stream to the client: the Sanic side of streaming.

The SSE codec itself (framing, ``SSEParser``, ``relay_sse``) is framework-free and lives in
``llmg.sse``; its names are re-exported here for code written before the split.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from sanic import Request

from .errors import GatewayError, ProviderError
from .logs import upstream_failure
from .sse import DONE, KEEPALIVE, SSEEvent, SSEParser, event, event_json, relay_sse, sse_events

__all__ = ["DONE", "KEEPALIVE", "SSEEvent", "SSEParser", "event", "event_json", "relay_sse", "send_stream", "sse_events"]

_log = logging.getLogger("llmg.streaming")
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def send_stream(request: Request, chunks: AsyncIterator[bytes], headers: dict[str, str] | None = None) -> None:
    """Write SSE chunks to the client as they arrive.

    A failure after the first byte cannot change the status any more, so it is reported as an
    error event followed by ``[DONE]``. If the client goes away, Sanic cancels this task; the
    cancellation closes ``chunks`` (and with it the upstream request) on the way out.
    """
    lifecycle = getattr(request.app.ctx, "lifecycle", None)
    if lifecycle is not None:  # registered as an open stream, so that a drain can end it cleanly
        chunks = lifecycle.track(chunks)
    # A per-request filter over the outgoing events: llmg/limits meters TPM usage through it.
    wrap = getattr(request.ctx, "wrap_stream", None)
    if wrap is not None:
        chunks = wrap(chunks)
    # `headers`: extra response headers (a routing group's x-llmg-deployment / x-llmg-attempts).
    response = await request.respond(
        content_type="text/event-stream", headers={**_SSE_HEADERS, **headers} if headers else _SSE_HEADERS
    )
    assert response is not None
    ended = False
    try:
        async for chunk in chunks:
            if ended:
                continue  # nothing may follow [DONE]; keep draining so the upstream is read to its end
            if chunk.endswith(DONE):
                # The last event and the chunked-body terminator go out in one write, not two.
                await response.send(chunk, end_stream=True)
                ended = True
            else:
                await response.send(chunk)
    except GatewayError as exc:
        request.ctx.error = exc  # observe
        upstream_failure(request, exc)
        if not ended:
            await response.send(exc.event() + DONE)
    except Exception:
        _log.exception("stream failed after it started")
        request.ctx.error = ProviderError("stream interrupted", code="stream_error")  # observe
        if not ended:
            await response.send(ProviderError("stream interrupted", code="stream_error").event() + DONE)
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    await response.eof()  # a no-op when the [DONE] chunk already ended the body
