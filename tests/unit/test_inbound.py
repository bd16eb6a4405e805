"""The inbound translators as pure functions: chat chunks in, each API's events out; the store."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from llmg.inbound import anthropic as messages
from llmg.inbound import responses
from llmg.inbound.store import MemoryStore
from llmg.schemas.anthropic import MessagesRequest
from llmg.schemas.responses import ResponsesRequest


def _events(chunks: list[bytes]) -> list[tuple[str, dict]]:
    out = []
    for raw in b"".join(chunks).split(b"\n\n"):
        if raw:
            name, data = raw.split(b"\n", 1)
            out.append((name.decode()[7:], msgspec.json.decode(data[6:])))
    return out


def _chunk(delta: dict | None = None, finish: str | None = None, usage: dict | None = None) -> dict:
    body: dict = {"id": "chatcmpl-x", "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        body["usage"] = usage
    return body


STREAM = [
    _chunk({"role": "assistant", "reasoning_content": "hmm"}),
    _chunk({"content": "Hi"}),
    _chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
    _chunk({"tool_calls": [{"index": 1, "id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}),
    _chunk({}, "tool_calls"),
    _chunk(usage={"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10, "prompt_tokens_details": {"cached_tokens": 2}}),
]


def test_anthropic_stream_blocks_never_interleave() -> None:
    translator = messages.StreamTranslator("m")
    out = [b for chunk in STREAM for b in translator.feed(chunk)] + translator.end()
    events = _events(out)
    assert [e for e, _ in events[:2]] == ["message_start", "ping"]
    starts = [d["content_block"] for e, d in events if e == "content_block_start"]
    assert [b["type"] for b in starts] == ["thinking", "text", "tool_use", "tool_use"]
    assert [b.get("id") for b in starts[2:]] == ["call_1", "call_2"]
    deltas = [d["delta"] for e, d in events if e == "content_block_delta"]
    assert deltas[0] == {"type": "thinking_delta", "thinking": "hmm"}
    assert deltas[1] == {"type": "text_delta", "text": "Hi"}
    assert "".join(d["partial_json"] for d in deltas[2:4]) == '{"a":1}'
    opened = closed = 0
    for name, data in events:  # every block is closed before the next one starts
        if name == "content_block_start":
            assert opened == closed and data["index"] == opened
            opened += 1
        elif name == "content_block_stop":
            closed += 1
    assert opened == closed == 4
    name, final = events[-2]
    assert name == "message_delta"
    assert final["delta"]["stop_reason"] == "tool_use"
    assert final["usage"] == {"output_tokens": 3, "input_tokens": 5, "cache_read_input_tokens": 2}
    assert events[-1][0] == "message_stop"


def test_anthropic_stream_without_any_chunk_is_still_well_formed() -> None:
    names = [e for e, _ in _events(messages.StreamTranslator("m").end())]
    assert names == ["message_start", "ping", "message_delta", "message_stop"]


def test_anthropic_answer_mapping() -> None:
    answer = {"id": "chatcmpl-9", "choices": [{"index": 0, "finish_reason": "length", "message": {
        "role": "assistant", "content": "partial", "reasoning_content": "thought",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "not json"}}]}}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}}
    message = msgspec.to_builtins(messages.from_chat(answer, "p/m"))
    assert message["id"] == "msg_9" and message["stop_reason"] == "max_tokens"
    assert [b["type"] for b in message["content"]] == ["thinking", "text", "tool_use"]
    assert message["content"][2]["input"] == {"_raw": "not json"}
    assert message["usage"]["input_tokens"] == 4


def test_anthropic_request_mapping_orders_tool_results_first() -> None:
    req = msgspec.convert({"model": "p/m", "max_tokens": 5, "thinking": {"type": "enabled", "budget_tokens": 5000},
                           "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"},
                                          {"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "r"}],
                                      "is_error": True}, {"type": "text", "text": "and?"}]},
    ]}, MessagesRequest)
    body = messages.to_chat(req, "p/m")
    assert body["reasoning_effort"] == "medium"
    assert body["messages"][1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}]}
    assert body["messages"][2] == {"role": "tool", "tool_call_id": "t1", "content": "Error: r"}
    assert body["messages"][3] == {"role": "user", "content": [{"type": "text", "text": "and?"}]}


def test_responses_stream_sequence() -> None:
    req = msgspec.convert({"model": "p/m", "input": "x"}, ResponsesRequest)
    translator = responses.StreamTranslator(req, "resp_1")
    out = translator.start() + [b for chunk in STREAM for b in translator.feed(chunk)] + translator.end()
    events = _events(out)
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    assert all(name == d["type"] for name, d in events)
    added = [d["item"]["type"] for e, d in events if e == "response.output_item.added"]
    done = [d["item"]["type"] for e, d in events if e == "response.output_item.done"]
    assert added == done == ["reasoning", "message", "function_call", "function_call"]
    final = events[-1][1]["response"]
    assert events[-1][0] == "response.completed" and final["status"] == "completed"
    assert final["output"][2]["arguments"] == '{"a":1}' and final["output"][3]["call_id"] == "call_2"
    assert final["usage"]["input_tokens"] == 7 and final["usage"]["input_tokens_details"]["cached_tokens"] == 2
    assert translator.assistant()["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a":1}'}


def test_responses_length_is_incomplete() -> None:
    req = msgspec.convert({"model": "p/m", "input": "x", "max_output_tokens": 1}, ResponsesRequest)
    answer = {"choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "a"}}]}
    response, _ = responses.from_chat(answer, req, "resp_2")
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"


def test_responses_function_calls_share_one_assistant_message() -> None:
    items = msgspec.convert([
        {"role": "developer", "content": "rules"},
        {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "b", "name": "g", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "a", "output": "1"},
        {"type": "reasoning", "id": "rs_1"},
    ], list[responses.InputItem])
    chat = responses.input_messages(items)
    assert chat[0] == {"role": "system", "content": "rules"}
    assert [c["id"] for c in chat[1]["tool_calls"]] == ["a", "b"]
    assert chat[2] == {"role": "tool", "tool_call_id": "a", "content": "1"}
    assert len(chat) == 3


def test_store_is_bounded_and_expires() -> None:
    async def run() -> None:
        store = MemoryStore(max_items=2, ttl=60)
        for name in ("a", "b", "c"):
            await store.put(name, b"{}", [], [])
        assert await store.get("a") is None and await store.get("c") is not None and len(store) == 2
        expired = MemoryStore(ttl=-1)
        await expired.put("x", b"{}", [], [])
        assert await expired.get("x") is None
        assert not await store.delete("zzz") and await store.delete("b")

    asyncio.run(run())


def test_store_keeps_a_copy_and_skips_entries_over_the_size_cap() -> None:
    async def run() -> None:
        store = MemoryStore(max_entry_bytes=1024)
        messages = [{"role": "user", "content": "hi"}]
        await store.put("small", b'{"id":"small"}', [{"id": "i1"}], messages)
        messages.append({"role": "assistant", "content": "changed after storing"})
        kept = await store.get("small")
        assert kept is not None and kept.messages == [{"role": "user", "content": "hi"}]
        assert kept.response == b'{"id":"small"}' and kept.input_items == [{"id": "i1"}]
        await store.put("big", b"{}", [], [{"role": "user", "content": "x" * 2000}])
        assert await store.get("big") is None and len(store) == 1

    asyncio.run(run())


@pytest.mark.parametrize("status,kind", [(400, "invalid_request_error"), (401, "authentication_error"), (404, "not_found_error"),
                                         (429, "rate_limit_error"), (502, "api_error"), (503, "overloaded_error")])
def test_anthropic_error_types(status, kind) -> None:
    from llmg.errors import GatewayError

    body = msgspec.json.decode(messages.error_body(GatewayError("m", status=status)))
    assert body == {"type": "error", "error": {"type": kind, "message": "m"}}
