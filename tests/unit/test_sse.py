"""The framework-free SSE codec: the parser's line handling, its cap and linear cost, and relay_sse."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from llmg.errors import GatewayError
from llmg.sse import DONE, SSEEvent, SSEParser, relay_sse


def _parse(body: bytes, split: int, max_line: int | None = None) -> list[SSEEvent]:
    parser = SSEParser() if max_line is None else SSEParser(max_line)
    out: list[SSEEvent] = []
    for i in range(0, len(body), split):
        out += parser.feed(body[i:i + split])
    return out + parser.close()


SAMPLE = (b": comment\r\nevent: a\r\ndata: one\r\ndata: two\r\n\r\n"
          b"data:{\"x\":1}\n\n"
          b"event: b\rdata: cr only\r\r"
          b"data: tail without blank line")


@pytest.mark.parametrize("split", list(range(1, 20)) + [len(SAMPLE)])
def test_parser_gives_the_same_events_for_every_split(split):
    assert _parse(SAMPLE, split) == [
        SSEEvent("a", "one\ntwo"), SSEEvent(None, '{"x":1}'), SSEEvent("b", "cr only"), SSEEvent(None, "tail without blank line"),
    ]


def test_a_crlf_split_between_chunks_is_one_line_end():
    parser = SSEParser()
    assert parser.feed(b"data: x\r") == []
    assert parser.feed(b"\n") == []  # the rest of the CRLF, not a blank line
    assert parser.feed(b"\r\ndata: y\n\n") == [SSEEvent(None, "x"), SSEEvent(None, "y")]


def test_a_line_over_the_cap_is_a_502_whether_it_arrives_whole_or_in_pieces():
    line = b"data: " + b"x" * 100
    for split in (1, 7, 1000):
        with pytest.raises(GatewayError) as info:
            _parse(line + b"\n\n", split, max_line=64)
        assert info.value.status == 502 and "longer than 64 bytes" in info.value.message
    assert _parse(line + b"\n\n", 7, max_line=len(line)) == [SSEEvent(None, "x" * 100)]


def test_a_long_line_in_small_chunks_costs_linear_time():
    """One 4 MB line fed in 1 KiB chunks took ~15 s when each chunk re-joined and re-scanned the
    buffer; scanned once it is well under a second even on a loaded machine."""
    body = b"data: " + b"a" * (4 << 20) + b"\n\n"
    parser = SSEParser()
    started = time.perf_counter()
    events: list[SSEEvent] = []
    for i in range(0, len(body), 1024):
        events += parser.feed(body[i:i + 1024])
    elapsed = time.perf_counter() - started
    assert len(events) == 1 and len(events[0].data) == 4 << 20
    assert elapsed < 5.0, elapsed


# --- relay_sse ------------------------------------------------------------------------------------


def _relay(body: bytes, split: int) -> bytes:
    async def chunks():
        for i in range(0, len(body), split):
            yield body[i:i + split]

    async def collect() -> bytes:
        return b"".join([c async for c in relay_sse(chunks())])

    return asyncio.run(collect())


CHUNK = b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'
QUOTED = b'data: {"choices":[{"delta":{"content":"say data: [DONE]\\n\\n now"}}]}\n\n'
SPLITS = list(range(1, 33)) + [64, 1 << 20]


@pytest.mark.parametrize("split", SPLITS)
def test_relay_keeps_a_stream_that_has_its_done_unchanged(split):
    body = CHUNK * 3 + DONE
    assert _relay(body, split) == body


@pytest.mark.parametrize("split", SPLITS)
def test_relay_adds_a_missing_done_exactly_once(split):
    assert _relay(CHUNK * 3, split) == CHUNK * 3 + DONE


@pytest.mark.parametrize("split", SPLITS)
def test_done_quoted_in_the_answer_text_does_not_count(split):
    assert _relay(CHUNK + QUOTED, split) == CHUNK + QUOTED + DONE
    assert _relay(QUOTED + DONE, split) == QUOTED + DONE


@pytest.mark.parametrize("split", [1, 3, 1 << 20])
@pytest.mark.parametrize(("body", "expected"), [
    (CHUNK + b"data: [DONE]", CHUNK + b"data: [DONE]\n\n"),   # DONE without its blank line
    (CHUNK + b"data: [DONE]\n", CHUNK + b"data: [DONE]\n\n"),
    (CHUNK + b"data:[DONE]\r\n\r\n", CHUNK + b"data:[DONE]\r\n\r\n"),  # no space, CRLF: still DONE
    (CHUNK[:-2], CHUNK[:-2] + b"\n\n" + DONE),               # last event unterminated: end it first
    (CHUNK[:-1], CHUNK + DONE),
    (b"", DONE),
    (b"data: [DONE]\n\n", b"data: [DONE]\n\n"),
    (b'data: "x data: [DONE]"\n\n', b'data: "x data: [DONE]"\n\n' + DONE),
])
def test_relay_stream_endings(body, expected, split):
    out = _relay(body, split)
    assert out == expected
    events = [e for e in out.replace(b"\r\n", b"\n").split(b"\n\n") if e]
    assert events[-1].replace(b" ", b"") == b"data:[DONE]"
    assert sum(1 for e in events if e.replace(b" ", b"") == b"data:[DONE]") == 1
    for e in events[:-1]:
        json.loads(e.split(b":", 1)[1])
