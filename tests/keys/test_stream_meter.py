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


@pytest.mark.parametrize("size", [1, 2, 3, 5, 10_000])
def test_crlf_event_end_split_across_chunks(size: int) -> None:
    """The meter searches only the new bytes for an event end: one that straddles two chunks
    (``\\r\\n`` + ``\\r\\n``, ``\\n`` + ``\\n``) must still be found."""
    body = (CONTENT * 2 + USAGE + DONE).replace(b"\n", b"\r\n")
    meter = StreamMeter(drop_usage_chunk=True)
    out = run(meter, [body[i:i + size] for i in range(0, len(body), size)])
    assert out == (CONTENT * 2 + DONE).replace(b"\n", b"\r\n")
    assert meter.tokens == 7


def test_usage_null_chunks_pass_untouched() -> None:
    meter = StreamMeter(drop_usage_chunk=True)
    assert meter.feed(CONTENT) is CONTENT  # not decoded, not copied
    assert meter.usage is None


def test_anthropic_message_start_and_delta_are_merged() -> None:
    start = (b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","usage":'
             b'{"input_tokens":25,"cache_read_input_tokens":100,"output_tokens":1}}}\n\n')
    delta = (b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
             b'"usage":{"output_tokens":12}}\n\n')
    meter = StreamMeter(drop_usage_chunk=True)  # the TPM gate's meter: Anthropic events are never dropped
    assert run(meter, [start, delta]) == start + delta
    assert meter.usage is not None and meter.usage.kinds() == (125, 12, 100, 0)
    assert meter.tokens == 37  # TPM counts input + output, as total() always has


def test_responses_usage_from_response_completed() -> None:
    created = b'event: response.created\ndata: {"type":"response.created","response":{"id":"r","usage":null}}\n\n'
    done = (b'event: response.completed\ndata: {"type":"response.completed","response":{"id":"r","usage":'
            b'{"input_tokens":9,"input_tokens_details":{"cached_tokens":4},"output_tokens":3,'
            b'"output_tokens_details":{"reasoning_tokens":2},"total_tokens":12}}}\n\n')
    meter = StreamMeter(drop_usage_chunk=False)
    assert run(meter, [created, done]) == created + done
    assert meter.usage is not None and meter.usage.kinds() == (9, 3, 4, 2)


@pytest.mark.parametrize("body, tokens", [
    # the answer's own top-level usage, wherever it is, whatever nested or quoted "usage" follows it
    (b'{"choices":[{"message":{"content":"the \\"usage\\": 99 of it"}}],"usage":{"prompt_tokens":3,"completion_tokens":4}}', 7),
    (b'{"usage":{"prompt_tokens":3,"completion_tokens":4},"choices":[{"message":{"content":"x"}}]}', 7),
    (b'{"usage":{"prompt_tokens":3,"completion_tokens":4},"meta":{"usage":{"prompt_tokens":50,"completion_tokens":50}}}', 7),
    (b'{"usage":{"prompt_tokens":3,"completion_tokens":4},"tags":["usage"],"kind":"usage"}', 7),
    (b'{"choices":[],"meta":{"usage":{"prompt_tokens":50,"completion_tokens":50}}}', None),
    (b'{"choices":[],"usage":null}', None),
])
def test_the_usage_of_a_complete_answer_is_its_top_level_one(body: bytes, tokens: int | None) -> None:
    assert json.loads(body)  # the fixtures are valid JSON
    assert body_tokens(body) == tokens
