"""The event-stream decoder: framing, every header type, CRC checks, arbitrary chunk splits.

Frames come from the Bedrock fake's encoder (written separately from the spec) and from bytes
assembled by hand here; botocore's own parser is the independent oracle that both agree with.
"""

from __future__ import annotations

import random
import struct
import uuid
import zlib

import pytest

from llmg.eventstream import EventStreamDecoder, EventStreamError, Message
from tests.fakes.bedrock_upstream import event_frame, exception_frame, frame


def _raw(headers: bytes, payload: bytes) -> bytes:
    total = 16 + len(headers) + len(payload)
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def _header(name: str, kind: int, value: bytes) -> bytes:
    return bytes([len(name)]) + name.encode() + bytes([kind]) + value


def decode_all(data: bytes, sizes: list[int] | None = None) -> list[Message]:
    decoder = EventStreamDecoder()
    out: list[Message] = []
    pos = 0
    for size in sizes or [len(data)]:
        out.extend(decoder.feed(data[pos : pos + size]))
        pos += size
    out.extend(decoder.feed(data[pos:]))
    decoder.close()
    return out


def test_one_message_with_string_headers_and_json_payload():
    data = event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
    (message,) = decode_all(data)
    assert message.headers == {":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event"}
    assert message.payload.startswith(b'{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"')


def test_every_header_value_type():
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    headers = b"".join([
        _header("t", 0, b""),
        _header("f", 1, b""),
        _header("b", 2, struct.pack(">b", -5)),
        _header("s", 3, struct.pack(">h", -300)),
        _header("i", 4, struct.pack(">i", 70000)),
        _header("l", 5, struct.pack(">q", 2**40)),
        _header("ba", 6, struct.pack(">H", 3) + b"\x00\x01\x02"),
        _header("str", 7, struct.pack(">H", 5) + "h\u00e9y".encode()[:5].ljust(5, b"!")),
        _header("ts", 8, struct.pack(">q", 1700000000000)),
        _header("u", 9, ident.bytes),
    ])
    (message,) = decode_all(_raw(headers, b"payload"))
    assert message.headers == {"t": True, "f": False, "b": -5, "s": -300, "i": 70000, "l": 2**40, "ba": b"\x00\x01\x02",
                               "str": "h\u00e9y!", "ts": 1700000000000, "u": ident}
    assert message.payload == b"payload"


def test_empty_message_is_sixteen_bytes():
    (message,) = decode_all(_raw(b"", b""))
    assert message.headers == {} and message.payload == b""


def _stream() -> bytes:
    return b"".join([
        event_frame("messageStart", {"role": "assistant"}),
        event_frame("contentBlockStart", {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "t1", "name": "f"}}}),
        event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '{"a": "\u00e9"}'}}}),
        event_frame("messageStop", {"stopReason": "tool_use"}),
        exception_frame("throttlingException", "slow down"),
    ])


def test_byte_by_byte_and_random_splits_give_the_same_messages():
    data = _stream()
    whole = decode_all(data)
    assert [m.headers.get(":event-type") or m.headers.get(":exception-type") for m in whole] == [
        "messageStart", "contentBlockStart", "contentBlockDelta", "messageStop", "throttlingException"]
    assert decode_all(data, [1] * len(data)) == whole
    rng = random.Random(7)
    for _ in range(50):
        sizes = [rng.randint(0, 40) for _ in range(rng.randint(1, 30))]
        assert decode_all(data, sizes) == whole


def test_decoder_buffer_is_released_after_each_message():
    decoder = EventStreamDecoder()
    data = _stream()
    list(decoder.feed(data[:-3]))
    assert 0 < decoder.pending < 200
    assert len(list(decoder.feed(data[-3:]))) == 1
    assert decoder.pending == 0


@pytest.mark.parametrize("where,error", [(2, "prelude CRC mismatch"), (9, "prelude CRC mismatch"), (20, "message CRC mismatch"),
                                         (-2, "message CRC mismatch")])
def test_corruption_is_detected(where, error):
    data = bytearray(event_frame("messageStart", {"role": "assistant"}))
    data[where] ^= 0x40
    with pytest.raises(EventStreamError, match=error):
        decode_all(bytes(data))


def test_absurd_length_fails_at_once_instead_of_waiting():
    prelude = struct.pack(">II", 2**31, 0)
    prelude += struct.pack(">I", zlib.crc32(prelude))
    with pytest.raises(EventStreamError, match="invalid message length"):
        list(EventStreamDecoder().feed(prelude))


def test_headers_longer_than_the_message_are_rejected():
    prelude = struct.pack(">II", 20, 10)
    prelude += struct.pack(">I", zlib.crc32(prelude))
    with pytest.raises(EventStreamError, match="invalid headers length"):
        list(EventStreamDecoder().feed(prelude + b"\x00" * 8))


def test_unknown_header_type_is_an_error():
    with pytest.raises(EventStreamError, match="unknown header value type 12"):
        decode_all(_raw(_header("x", 12, b""), b""))


def test_stream_cut_mid_message_is_reported_at_close():
    data = event_frame("messageStart", {"role": "assistant"})
    decoder = EventStreamDecoder()
    assert list(decoder.feed(data[:-5])) == []
    with pytest.raises(EventStreamError, match="stream ended inside a message"):
        decoder.close()


def test_botocore_reads_the_fake_frames_as_we_do():
    eventstream = pytest.importorskip("botocore.eventstream", reason="botocore is the independent oracle")
    data = _stream() + frame({":message-type": "event", ":event-type": "metadata"}, b"{}")
    buffer = eventstream.EventStreamBuffer()
    buffer.add_data(data)
    theirs = [(m.headers, m.payload) for m in buffer]
    ours = [(m.headers, m.payload) for m in decode_all(data)]
    assert theirs == ours and len(ours) == 6
