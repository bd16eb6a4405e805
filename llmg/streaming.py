"""Server-sent events: framing what we emit, parsing what providers send, relaying bytes.

Every stream the gateway returns is ``data: <json>\\n\\n`` events ending in ``data: [DONE]``.
OpenAI-compatible upstreams are relayed byte for byte (only a missing ``[DONE]`` is added);
translators parse their provider's framing with ``SSEParser`` and emit with ``event``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import msgspec
from sanic import Request

from .errors import GatewayError, ProviderError

DONE = b"data: [DONE]\n\n"
KEEPALIVE = b": keep-alive\n\n"
_DONE_MARK = b"data: [DONE]"
_encode = msgspec.json.Encoder().encode


def event(payload: object) -> bytes:
    """One SSE event carrying ``payload`` (a Struct or plain data) as JSON."""
    return b"data: " + _encode(payload) + b"\n\n"


@dataclass(slots=True)
class SSEEvent:
    event: str | None
    data: str


class SSEParser:
    """Incremental parser for the text/event-stream format (WHATWG HTML, "server-sent events").

    Feed it byte chunks as they arrive, split anywhere; it yields complete events. Comments
    (``:`` lines) are dropped; multi-line ``data`` is joined with ``\\n``; CRLF, CR and LF all end lines.
    """

    __slots__ = ("_buffer", "_event", "_data")

    def __init__(self) -> None:
        self._buffer = b""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> Iterator[SSEEvent]:
        buffer = self._buffer + chunk
        lines = buffer.splitlines(keepends=True)
        # A trailing line without its end is kept for the next chunk (a lone CR may be half of CRLF).
        if lines and not lines[-1].endswith(b"\n") and not (lines[-1].endswith(b"\r") and len(lines) > 1):
            self._buffer = lines.pop()
        elif lines and lines[-1].endswith(b"\r"):
            self._buffer = lines.pop()
        else:
            self._buffer = b""
        for raw in lines:
            line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            if not line:
                if self._data or self._event is not None:
                    yield SSEEvent(self._event, "\n".join(self._data))
                self._event, self._data = None, []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value

    def close(self) -> Iterator[SSEEvent]:
        """Flush an event the upstream ended without its blank line."""
        if self._buffer:
            yield from self.feed(b"\n")
        if self._data:
            yield SSEEvent(self._event, "\n".join(self._data))
            self._event, self._data = None, []


async def sse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[SSEEvent]:
    """Every complete event of an SSE body as it arrives, plus one the upstream left unterminated."""
    parser = SSEParser()
    async for chunk in chunks:
        for item in parser.feed(chunk):
            yield item
    for item in parser.close():
        yield item


def event_json(data: str, provider: str) -> object | None:
    """The JSON payload of one upstream event: None for an empty or ``[DONE]`` event, and a
    ProviderError (never a traceback) for one that is not JSON."""
    data = data.strip()
    if not data or data == "[DONE]":
        return None
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        raise ProviderError(f"{provider}: malformed stream event", code="stream_error") from None


async def relay_sse(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Pass an OpenAI-format SSE body through unchanged, adding ``[DONE]`` if the upstream left it out.

    The check only looks at the tail of each chunk (plus the previous tail, in case the marker was
    split across two reads), so the cost per chunk stays constant.
    """
    tail = b""
    seen_done = False
    async for chunk in chunks:
        if not chunk:
            continue
        if not seen_done and (_DONE_MARK in chunk or _DONE_MARK in tail + chunk[:16]):
            seen_done = True
        tail = chunk[-16:]
        yield chunk
    if not seen_done:
        yield DONE


_log = logging.getLogger("llmg.streaming")
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def send_stream(request: Request, chunks: AsyncIterator[bytes]) -> None:
    """Write SSE chunks to the client as they arrive.

    A failure after the first byte cannot change the status any more, so it is reported as an
    error event followed by ``[DONE]``. If the client goes away, Sanic cancels this task; the
    cancellation closes ``chunks`` (and with it the upstream request) on the way out.
    """
    lifecycle = getattr(request.app.ctx, "lifecycle", None)
    if lifecycle is not None:  # registered as an open stream, so that a drain can end it cleanly
        chunks = lifecycle.track(chunks)
    response = await request.respond(content_type="text/event-stream", headers=_SSE_HEADERS)
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
        if not ended:
            await response.send(exc.event() + DONE)
    except Exception:
        _log.exception("stream failed after it started")
        if not ended:
            await response.send(ProviderError("stream interrupted", code="stream_error").event() + DONE)
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    await response.eof()  # a no-op when the [DONE] chunk already ended the body
