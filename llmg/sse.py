"""Server-sent events, framework-free: framing what we emit, parsing what providers send, relaying bytes.

Every stream the gateway returns is ``data: <json>\\n\\n`` events ending in ``data: [DONE]``.
OpenAI-compatible upstreams are relayed byte for byte (only a missing ``[DONE]`` is added, by
``relay_sse``); translated streams get theirs from ``providers.translate.run`` — nothing else
writes ``[DONE]``. Translators parse their provider's framing with ``SSEParser``. The Sanic side
(writing a stream to the client) is ``llmg.streaming``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec

from .errors import ProviderError

DONE = b"data: [DONE]\n\n"
KEEPALIVE = b": keep-alive\n\n"
# One SSE line (a whole ``data:`` line, i.e. one event's JSON) may be at most this long: an upstream
# that never ends its line must not grow our buffer without bound. 8 MiB leaves room for inline
# images in an answer; anything longer is a 502.
MAX_LINE_BYTES = 8 << 20
_encode = msgspec.json.Encoder().encode
_LF, _CR = 0x0A, 0x0D


def event(payload: object) -> bytes:
    """One SSE event carrying ``payload`` (a Struct or plain data) as JSON."""
    return b"data: " + _encode(payload) + b"\n\n"


@dataclass(slots=True)
class SSEEvent:
    event: str | None
    data: str


def line_too_long(limit: int) -> ProviderError:
    return ProviderError(f"upstream stream line longer than {limit} bytes", code="stream_line_too_long")


class SSEParser:
    """Incremental parser for the text/event-stream format (WHATWG HTML, "server-sent events").

    Feed it byte chunks as they arrive, split anywhere; it returns complete events. Comments
    (``:`` lines) are dropped; multi-line ``data`` is joined with ``\\n``; CRLF, CR and LF all end lines.

    Each byte is scanned once: an unfinished line is kept as a list of pieces and joined only when
    its end arrives, so one long line fed in small chunks costs linear time, not quadratic. A line
    longer than ``max_line`` raises a 502 ``ProviderError``.
    """

    __slots__ = ("_parts", "_size", "_skip_lf", "_event", "_data", "max_line")

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self._parts: list[bytes] = []  # pieces of the line that has not ended yet
        self._size = 0
        self._skip_lf = False  # the last chunk ended in CR: a leading LF is the rest of a CRLF
        self._event: str | None = None
        self._data: list[str] = []
        self.max_line = max_line

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if b"\r" not in chunk and not self._skip_lf:
            return self._feed_lf(chunk)
        out: list[SSEEvent] = []
        n = len(chunk)
        pos = 0
        if n and self._skip_lf:
            self._skip_lf = False
            if chunk[0] == _LF:
                pos = 1
        # Next LF and next CR at or after pos; each is searched again only once pos has passed it.
        lf = chunk.find(b"\n", pos)
        cr = chunk.find(b"\r", pos)
        while pos < n:
            if lf != -1 and lf < pos:
                lf = chunk.find(b"\n", pos)
            if cr != -1 and cr < pos:
                cr = chunk.find(b"\r", pos)
            end = lf if cr == -1 or (lf != -1 and lf < cr) else cr
            if end == -1:
                self._size += n - pos
                if self._size > self.max_line:
                    raise line_too_long(self.max_line)
                self._parts.append(chunk[pos:])
                break
            if self._parts:
                self._parts.append(chunk[pos:end])
                raw = b"".join(self._parts)
                self._parts, self._size = [], 0
            else:
                raw = chunk[pos:end]
            if len(raw) > self.max_line:
                raise line_too_long(self.max_line)
            pos = end + 1
            if chunk[end] == _CR:
                if pos < n:
                    if chunk[pos] == _LF:
                        pos += 1
                else:
                    self._skip_lf = True
            self._line(raw.decode("utf-8", "replace"), out)
        return out

    def _feed_lf(self, chunk: bytes) -> list[SSEEvent]:
        """The common case, LF-only line ends: one split in C, each byte still scanned once."""
        out: list[SSEEvent] = []
        lines = chunk.split(b"\n")
        rest = lines.pop()  # after the last LF: the start of a line that has not ended yet
        if lines:
            if self._parts:
                self._parts.append(lines[0])
                lines[0] = b"".join(self._parts)
                self._parts, self._size = [], 0
            if max(map(len, lines)) > self.max_line:
                raise line_too_long(self.max_line)
            for raw in lines:
                self._line(raw.decode("utf-8", "replace"), out)
        if rest:
            self._size += len(rest)
            if self._size > self.max_line:
                raise line_too_long(self.max_line)
            self._parts.append(rest)
        return out

    def _line(self, line: str, out: list[SSEEvent]) -> None:
        if not line:
            if self._data or self._event is not None:
                out.append(SSEEvent(self._event, "\n".join(self._data)))
            self._event, self._data = None, []
            return
        if line[0] == ":":
            return
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value

    def close(self) -> list[SSEEvent]:
        """Flush an event the upstream ended without its blank line."""
        out: list[SSEEvent] = []
        if self._parts:
            raw = b"".join(self._parts)
            self._parts, self._size = [], 0
            self._line(raw.decode("utf-8", "replace"), out)
        if self._data:
            out.append(SSEEvent(self._event, "\n".join(self._data)))
        self._event, self._data = None, []
        return out


async def sse_events(chunks: AsyncIterator[bytes], max_line: int = MAX_LINE_BYTES) -> AsyncIterator[SSEEvent]:
    """Every complete event of an SSE body as it arrives, plus one the upstream left unterminated."""
    parser = SSEParser(max_line)
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
        decoded: object = msgspec.json.decode(data)
    except msgspec.DecodeError:
        raise ProviderError(f"{provider}: malformed stream event", code="stream_error") from None
    return decoded


# The stream's last bytes that relay_sse keeps: enough for the final line plus its line ends.
_TAIL = 64
_DONE_LINES = (b"data: [DONE]", b"data:[DONE]")


def _ends_with_done(tail: bytes, whole: bool) -> bool:
    """Whether the stream whose last bytes are ``tail`` ends in a ``data: [DONE]`` line (``whole``:
    ``tail`` is the entire stream, so its first line is complete)."""
    body = tail.rstrip(b"\r\n")
    for mark in _DONE_LINES:
        if body.endswith(mark):
            before = body[: -len(mark)]
            if (before == b"" and whole) or before.endswith((b"\n", b"\r")):
                return True
    return False


def _terminator(tail: bytes) -> bytes:
    """What the stream needs so that its last event is dispatched: its blank line, if missing."""
    if not tail or tail.endswith((b"\n\n", b"\r\n\r\n", b"\r\r")):
        return b""
    if tail.endswith((b"\n", b"\r")):
        return b"\n"
    return b"\n\n"


async def relay_sse(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Pass an OpenAI-format SSE body through unchanged, adding ``[DONE]`` if the upstream left it out.

    Whether it did is decided by the stream's last line, not by a search of each chunk: a marker
    split over tiny reads is still found, and ``data: [DONE]`` quoted inside an answer's text (which
    sits inside a JSON string, so never at the end of the stream) does not count. A last event
    left without its blank line gets one, so that the client dispatches it. Constant work per chunk.
    """
    tail = b""
    total = 0
    async for chunk in chunks:
        if not chunk:
            continue
        total += len(chunk)
        tail = (tail + chunk)[-_TAIL:] if len(chunk) < _TAIL else chunk[-_TAIL:]
        yield chunk
    end = _terminator(tail)
    if _ends_with_done(tail, whole=total <= _TAIL):
        if end:
            yield end
    else:
        yield end + DONE
