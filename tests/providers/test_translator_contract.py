"""Every stream translator keeps the one contract (llmg/providers/translate.py).

- each chunk it writes is exactly what ``schemas.openai.ChatCompletionChunk`` encodes (decoding it
  into the Struct and encoding again gives the same bytes), so contracts/openapi.yaml covers it;
- no translator writes ``[DONE]``; ``translate.run`` writes it once, last;
- ``close()`` on a stream the provider never ended is a 502, not a silently short answer.

The inputs are each provider's documented event sequences (the golden files where they exist).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from llmg.errors import GatewayError
from llmg.providers import anthropic_map, anthropic_wire, bedrock_map, cohere, gemini_map, gemini_wire, watsonx
from llmg.providers.translate import run
from llmg.schemas.openai import ChatCompletionChunk
from llmg.sse import DONE, SSEParser

GOLDEN = Path(__file__).parent / "golden"
_chunk = msgspec.json.Decoder(ChatCompletionChunk)
_encode = msgspec.json.Encoder().encode


def _anthropic_events(name: str) -> list[Any]:
    parser = SSEParser()
    events = parser.feed((GOLDEN / "anthropic" / f"{name}.sse").read_bytes()) + parser.close()
    return [e for e in (anthropic_wire.decode_event(ev.data) for ev in events if ev.data) if e is not None]


def _gemini_events(name: str) -> list[Any]:
    return [gemini_wire.decode_response(json.dumps(e)) for e in json.loads((GOLDEN / "gemini" / f"{name}.json").read_text())["gemini"]]


BEDROCK = [
    ("messageStart", {"role": "assistant"}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hmm."}}}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "c2ln"}}}),
    ("contentBlockDelta", {"contentBlockIndex": 3, "delta": {"reasoningContent": {"redactedContent": "cmVk"}}}),
    ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Checking."}}),
    ("contentBlockStart", {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "top_song"}}}),
    ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"sign": "WZPZ"}'}}}),
    ("messageStop", {"stopReason": "tool_use"}),
    ("metadata", {"usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}}),
]
COHERE = [
    {"type": "message-start", "id": "c1", "delta": {"message": {"role": "assistant"}}},
    {"type": "content-delta", "delta": {"message": {"content": {"thinking": "Let me see."}}}},
    {"type": "content-delta", "delta": {"message": {"content": {"text": "Hello"}}}},
    {"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {"id": "t1", "function": {"name": "f", "arguments": ""}}}}},
    {"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": "{}"}}}}},
    {"type": "message-end", "delta": {"finish_reason": "TOOL_CALL", "usage": {"tokens": {"input_tokens": 3, "output_tokens": 2}}}},
]
WATSONX = [
    {"id": "w1", "created": 7, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}]},
    {"id": "w1", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call1", "type": "function",
                                                                    "function": {"name": "f", "arguments": "{}"}}]}}]},
    {"id": "w1", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    {"id": "w1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
]

# name -> (make a fresh translator, its events)
CASES: dict[str, tuple[Callable[[], Any], Callable[[], list[Any]]]] = {
    "anthropic text": (lambda: anthropic_map.StreamTranslator("m", True, created=0), lambda: _anthropic_events("stream_text")),
    "anthropic tool_use": (lambda: anthropic_map.StreamTranslator("m", True, created=0), lambda: _anthropic_events("stream_tool_use")),
    "anthropic thinking": (lambda: anthropic_map.StreamTranslator("m", False, created=0), lambda: _anthropic_events("stream_thinking")),
    "gemini text": (lambda: gemini_map.StreamTranslator("m", True, created=0), lambda: _gemini_events("stream_text")),
    "gemini function_call": (lambda: gemini_map.StreamTranslator("m", True, created=0), lambda: _gemini_events("stream_function_call")),
    "bedrock": (lambda: bedrock_map.StreamTranslator("m", "chatcmpl-b", True, created=0), lambda: list(BEDROCK)),
    "cohere": (lambda: cohere.StreamTranslator("m", True, created=0), lambda: list(COHERE)),
    "watsonx": (lambda: watsonx.StreamTranslator("m", True), lambda: list(WATSONX)),
}


def _run(translator: Any, events: list[Any]) -> list[bytes]:
    async def source() -> AsyncIterator[Any]:
        for item in events:
            yield item

    async def collect() -> list[bytes]:
        return [c async for c in run(source(), translator)]

    return asyncio.run(collect())


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_chunk_is_a_schema_struct_and_run_alone_ends_the_stream(name):
    make, events = CASES[name]
    translator = make()
    direct = [c for item in events() for c in translator.feed(item)] + translator.close()
    assert direct and DONE not in direct and not any(b"[DONE]" in c for c in direct)
    for raw in direct:
        assert raw.startswith(b"data: ") and raw.endswith(b"\n\n")
        body = raw[len(b"data: "):-2]
        assert _encode(_chunk.decode(body)) == body, body  # nothing outside the Struct, nothing reshaped
    out = _run(make(), events())
    assert out[-1] == DONE and out.count(DONE) == 1
    assert out[:-1] == direct
    finishes = [json.loads(c[6:])["choices"][0]["finish_reason"] for c in direct if json.loads(c[6:])["choices"]]
    assert len([f for f in finishes if f]) == 1


@pytest.mark.parametrize("name", ["anthropic text", "bedrock", "cohere"])
def test_a_stream_cut_before_the_providers_end_event_is_a_502(name):
    make, events = CASES[name]
    ends = {"anthropic text": anthropic_wire.MessageStop, "bedrock": "messageStop", "cohere": "message-end"}[name]

    def is_end(item: Any) -> bool:
        if isinstance(ends, type):
            return isinstance(item, ends)
        return (item[0] if isinstance(item, tuple) else item.get("type")) == ends

    cut = [item for item in events() if not is_end(item)]
    cut = cut[: next((i for i, item in enumerate(events()) if is_end(item)), len(cut))]
    with pytest.raises(GatewayError) as info:
        _run(make(), cut)
    assert info.value.status == 502


def test_watsonx_stream_without_any_message_is_a_502():
    with pytest.raises(GatewayError) as info:
        _run(watsonx.StreamTranslator("m"), [])
    assert info.value.status == 502
