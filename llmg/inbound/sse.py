"""Sending a translated event stream (Anthropic's or the Responses API's SSE) to the client.

Like ``streaming.send_stream``, but these protocols have no ``[DONE]``: a failure after the first
byte becomes the protocol's own ``error`` event (``on_error``), then the body ends.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import msgspec
from sanic import Request

from ..errors import GatewayError, ProviderError

_log = logging.getLogger("llmg.inbound")
_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_encode = msgspec.json.Encoder().encode


class Last(bytes):
    """The final events of a translated stream: sent together with the end of the body in one write
    (as ``streaming.send_stream`` does with ``[DONE]``), which saves the client a round of waiting."""


def named_event(name: str, payload: object) -> bytes:
    """``event: <name>`` + ``data: <json>``: the framing both Anthropic and the Responses API use."""
    return b"event: " + name.encode() + b"\ndata: " + _encode(payload) + b"\n\n"


async def send_events(request: Request, events: AsyncIterator[bytes], on_error: Callable[[GatewayError], bytes]) -> None:
    ctx = request.ctx
    # The per-request filter and hooks send_stream applies too: llmg/limits meters TPM through the
    # filter; llmg/observe reads usage and TTFT and finishes the request when the body ends.
    wrap = getattr(ctx, "wrap_stream", None)
    if wrap is not None:
        events = wrap(events)
    watch = getattr(ctx, "stream_watch", None)
    feed = watch.feed if watch is not None else None
    unstarted = watch  # called once, at the first chunk sent (TTFT)
    response = await request.respond(content_type="text/event-stream", headers=_HEADERS)
    assert response is not None
    ended = False
    try:
        async for chunk in events:
            if feed is not None:
                chunk = feed(chunk)  # a Last stays a Last (limits.usage.StreamMeter)
                if not chunk:
                    continue
            if unstarted is not None:
                unstarted.first()
                unstarted = None
            if isinstance(chunk, Last):
                await response.send(chunk, end_stream=True)
                ended = True
                break
            await response.send(chunk)
        if watch is not None and not ended and (rest := watch.rest()):
            await response.send(rest)
    except GatewayError as exc:
        ctx.error = exc  # observe
        await response.send(on_error(exc))
    except Exception:
        _log.exception("stream failed after it started")
        ctx.error = ProviderError("stream interrupted", code="stream_error")  # observe
        await response.send(on_error(ctx.error))
    finally:
        if watch is not None:
            watch.end()
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
    if not ended:
        await response.eof()
