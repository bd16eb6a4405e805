"""A streamed tool call without arguments ends as ``"{}"``, as OpenAI sends it (clients
``json.loads`` the joined fragments; ``""`` raises). Anthropic streams a parameterless tool_use as
an empty ``input_json_delta``; Bedrock as a toolUse block with no input delta at all."""

from __future__ import annotations

import json

import pytest

from llmg.providers import anthropic_map, anthropic_wire, bedrock_map
from tests.providers.test_translator_contract import _run


def _arguments(chunks: list[bytes]) -> dict[int, str]:
    joined: dict[int, str] = {}
    for raw in chunks:
        if not raw.startswith(b"data: {"):
            continue
        for choice in json.loads(raw[6:])["choices"]:
            for call in choice["delta"].get("tool_calls") or []:
                joined[call["index"]] = joined.get(call["index"], "") + (call.get("function") or {}).get("arguments", "")
    return joined


def _anthropic(events: list[dict]) -> list[bytes]:
    decoded = [anthropic_wire.decode_event(json.dumps(e)) for e in events]
    return _run(anthropic_map.StreamTranslator("m", False, created=0), decoded)


ANTHROPIC_START = [{"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [],
                                                         "model": "claude-sonnet-4-5", "usage": {"input_tokens": 5, "output_tokens": 1}}}]
ANTHROPIC_END = [{"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
                 {"type": "message_stop"}]


def _tool_block(index: int, name: str, fragments: list[str]) -> list[dict]:
    return [{"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": f"toolu_{index}", "name": name, "input": {}}},
            *({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": f}} for f in fragments),
            {"type": "content_block_stop", "index": index}]


def test_anthropic_parameterless_tool_streams_empty_object() -> None:
    chunks = _anthropic(ANTHROPIC_START + _tool_block(0, "get_time", [""]) + ANTHROPIC_END)
    assert _arguments(chunks) == {0: "{}"}
    assert json.loads(_arguments(chunks)[0]) == {}


def test_anthropic_only_the_argumentless_call_gets_empty_object() -> None:
    chunks = _anthropic(ANTHROPIC_START + _tool_block(0, "get_weather", ['{"city":', ' "Paris"}']) + _tool_block(1, "get_time", [])
                        + ANTHROPIC_END)
    assert _arguments(chunks) == {0: '{"city": "Paris"}', 1: "{}"}
    finish = [json.loads(c[6:])["choices"][0]["finish_reason"] for c in chunks if c.startswith(b"data: {")]
    assert finish[-1] == "tool_calls"  # "{}" goes before the finish chunk


@pytest.mark.parametrize("with_empty_delta", [False, True])
def test_bedrock_parameterless_tool_streams_empty_object(with_empty_delta: bool) -> None:
    events = [("messageStart", {"role": "assistant"}),
              ("contentBlockStart", {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "get_time"}}})]
    if with_empty_delta:
        events.append(("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": ""}}}))
    events += [("contentBlockStop", {"contentBlockIndex": 0}), ("messageStop", {"stopReason": "tool_use"}),
               ("metadata", {"usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}})]
    chunks = _run(bedrock_map.StreamTranslator("m", "chatcmpl-b", False, created=0), events)
    assert _arguments(chunks) == {0: "{}"}
