"""Decoder for AWS's binary event-stream framing (``application/vnd.amazon.eventstream``).

Bedrock's ConverseStream answers with this framing instead of SSE. Each message is:

    total length (u32 BE) | headers length (u32 BE) | prelude CRC32 (u32 BE)
    headers (headers-length bytes) | payload | message CRC32 (u32 BE)

The prelude CRC covers the first 8 bytes; the message CRC covers everything before it. A header
is: name length (u8), name (UTF-8), value type (u8), value (type-dependent). Both CRCs are the
GZIP CRC32 (``zlib.crc32``). Reference: "Event stream encoding",
https://docs.aws.amazon.com/lexv2/latest/dg/event-stream-encoding.html (the same framing is used
by Transcribe, S3 Select and Bedrock).

``EventStreamDecoder.feed`` takes byte chunks split anywhere and yields complete messages; a
corrupt frame raises ``EventStreamError`` (the stream cannot be resynchronised after that).
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

PRELUDE = 12  # total length, headers length, prelude CRC
OVERHEAD = 16  # prelude + message CRC
# Limits from the AWS event-stream implementations: a message is at most 16 MiB, its headers 128 KiB.
MAX_MESSAGE = 16 * 1024 * 1024
MAX_HEADERS = 128 * 1024

_prelude = struct.Struct(">III")
_u16 = struct.Struct(">H")
_u32 = struct.Struct(">I")
_i16 = struct.Struct(">h")
_i32 = struct.Struct(">i")
_i64 = struct.Struct(">q")

HeaderValue = bool | int | bytes | str | uuid.UUID


class EventStreamError(Exception):
    """A frame that cannot be decoded: bad length, bad CRC, truncated, unknown header type."""


@dataclass(slots=True)
class Message:
    headers: dict[str, HeaderValue]
    payload: bytes


def decode_headers(data: bytes | memoryview) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    view = memoryview(data)
    pos, end = 0, len(view)
    try:
        while pos < end:
            name_len = view[pos]
            pos += 1
            name = bytes(view[pos : pos + name_len]).decode("utf-8")
            pos += name_len
            kind = view[pos]
            pos += 1
            value: HeaderValue
            if kind == 0:
                value = True
            elif kind == 1:
                value = False
            elif kind == 2:  # byte
                value = struct.unpack_from(">b", view, pos)[0]
                pos += 1
            elif kind == 3:
                value = _i16.unpack_from(view, pos)[0]
                pos += 2
            elif kind == 4:
                value = _i32.unpack_from(view, pos)[0]
                pos += 4
            elif kind in (5, 8):  # long, timestamp (milliseconds since the epoch)
                value = _i64.unpack_from(view, pos)[0]
                pos += 8
            elif kind in (6, 7):  # byte array, string: u16 length prefix
                size = _u16.unpack_from(view, pos)[0]
                pos += 2
                raw = bytes(view[pos : pos + size])
                if len(raw) != size:
                    raise EventStreamError("truncated header value")
                pos += size
                value = raw.decode("utf-8") if kind == 7 else raw
            elif kind == 9:
                raw = bytes(view[pos : pos + 16])
                if len(raw) != 16:
                    raise EventStreamError("truncated uuid header")
                value = uuid.UUID(bytes=raw)
                pos += 16
            else:
                raise EventStreamError(f"unknown header value type {kind}")
            if pos > end:
                raise EventStreamError("truncated header")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise EventStreamError(f"malformed headers ({type(exc).__name__})") from None
    return headers


class EventStreamDecoder:
    """Incremental decoder: ``feed`` chunks as they arrive, get whole messages back."""

    __slots__ = ("_buffer", "_headers")

    def __init__(self) -> None:
        self._buffer = bytearray()
        # A stream repeats a few header blocks byte for byte (one per event type): decode each once.
        # The dicts are shared between messages, so treat Message.headers as read-only.
        self._headers: dict[bytes, dict[str, HeaderValue]] = {}

    def feed(self, chunk: bytes) -> Iterator[Message]:
        buffer = self._buffer
        buffer += chunk
        start = 0
        try:
            while len(buffer) - start >= PRELUDE:
                total, headers_len, prelude_crc = _prelude.unpack_from(buffer, start)
                # Check the prelude before trusting its lengths (a corrupt length must not make us
                # wait forever for 4 GB that never come).
                if zlib.crc32(memoryview(buffer)[start : start + 8]) != prelude_crc:
                    raise EventStreamError("prelude CRC mismatch")
                if total < OVERHEAD or total > MAX_MESSAGE:
                    raise EventStreamError(f"invalid message length {total}")
                if headers_len > MAX_HEADERS or headers_len > total - OVERHEAD:
                    raise EventStreamError(f"invalid headers length {headers_len}")
                if len(buffer) - start < total:
                    break
                view = memoryview(buffer)[start : start + total]
                try:
                    (message_crc,) = _u32.unpack_from(view, total - 4)
                    if zlib.crc32(view[: total - 4]) != message_crc:
                        raise EventStreamError("message CRC mismatch")
                    raw = bytes(view[PRELUDE : PRELUDE + headers_len])
                    headers = self._headers.get(raw)
                    if headers is None:
                        headers = decode_headers(raw)
                        if len(self._headers) < 64:
                            self._headers[raw] = headers
                    payload = bytes(view[PRELUDE + headers_len : total - 4])
                finally:
                    view.release()
                start += total
                yield Message(headers, payload)
        finally:
            if start:
                del buffer[:start]

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete message."""
        return len(self._buffer)

    def close(self) -> None:
        """Call at the end of the body: leftover bytes mean the stream was cut mid-message."""
        if self._buffer:
            size = len(self._buffer)
            self._buffer.clear()
            raise EventStreamError(f"stream ended inside a message ({size} bytes pending)")
