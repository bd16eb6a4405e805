"""StreamMeter: usage read from OpenAI-format SSE, the usage-only chunk dropped only when asked to."""

from __future__ import annotations

import json

import pytest

from llmg.limits.usage import StreamMeter, body_tokens

CONTENT = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\n'
USAGE = b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n'
DONE = b"data: [DONE]\n\n"


def run(meter: StreamMeter, chunks: list[bytes]) -> bytes:
    return b"".join(meter.feed(c) for c in chunks) + meter.flush()


@pytest.mark.parametrize("size", [1, 3, 7, 50, 10_000])
def test_usage_read_and_chunk_dropped_whatever_the_split(size: int) -> None:
    body = CONTENT * 3 + USAGE + DONE
    meter = StreamMeter(drop_usage_chunk=True)
    out = run(meter, [body[i:i + size] for i in range(0, len(body), size)])
    assert out == CONTENT * 3 + DONE
    assert meter.tokens == 7


def test_kept_when_the_client_asked() -> None:
    meter = StreamMeter(drop_usage_chunk=False)
    assert run(meter, [CONTENT, USAGE + DONE]) == CONTENT + USAGE + DONE
    assert meter.tokens == 7


def test_crlf_events_are_not_held_back() -> None:
    crlf = CONTENT.replace(b"\n", b"\r\n")
    meter = StreamMeter(drop_usage_chunk=True)
    assert meter.feed(crlf) == crlf  # passed on at once, not buffered to the end
    assert meter.feed(USAGE.replace(b"\n", b"\r\n")) == b""
    assert meter.tokens == 7


def test_usage_in_a_content_chunk_is_kept_and_counted() -> None:
    chunk = b'data: {"choices":[{"index":0,"delta":{}}],"usage":{"input_tokens":3,"output_tokens":4}}\n\n'
    meter = StreamMeter(drop_usage_chunk=True)
    assert run(meter, [chunk]) == chunk
    assert meter.tokens == 7


def test_an_endless_event_is_passed_on_not_held() -> None:
    meter = StreamMeter(drop_usage_chunk=True)
    big = b"data: " + b"x" * (2 << 20)
    assert meter.feed(big) == big


def test_body_tokens() -> None:
    assert body_tokens(json.dumps({"usage": {"prompt_tokens": 5, "total_tokens": 9}}).encode()) == 9
    assert body_tokens(json.dumps({"usage": {"prompt_tokens": 5, "completion_tokens": 2}}).encode()) == 7
    assert body_tokens(b'{"id": "x"}') is None
    assert body_tokens(b'{"usage": ') is None
