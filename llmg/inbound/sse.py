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
    # The per-request filter send_stream applies too: llmg/observe reads usage and TTFT through it
    # and finishes the request (metrics, access line) when the body ends.
    wrap = getattr(request.ctx, "wrap_stream", None)
    if wrap is not None:
        events = wrap(events)
    response = await request.respond(content_type="text/event-stream", headers=_HEADERS)
    assert response is not None
    ended = False
    try:
        async for chunk in events:
            if isinstance(chunk, Last):
                await response.send(chunk, end_stream=True)
                ended = True
                break
            await response.send(chunk)
    except GatewayError as exc:
        await response.send(on_error(exc))
    except Exception:
        _log.exception("stream failed after it started")
        await response.send(on_error(ProviderError("stream interrupted", code="stream_error")))
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
    if not ended:
        await response.eof()
