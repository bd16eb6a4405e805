"""Every translator's answers and stream chunks validate against OpenAI's official schema.

``CreateChatCompletionResponse`` and ``CreateChatCompletionStreamResponse`` from
../shared/reference/openai-openapi/openapi.yaml: no ``"tool_calls": null``, no
``"system_fingerprint": null`` (OpenAI omits them), the required members present. The inputs are
each provider's documented answers (the golden files, the examples of the providers' references)
and event sequences (the translator contract's cases); the mock is asked over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from llmg.providers import anthropic_wire, bedrock_map, cohere, gemini_map, gemini_wire, watsonx
from llmg.providers.anthropic_map import from_anthropic
from tests.contract.openai_schema import SPEC, errors
from tests.gateway import GatewayProcess
from tests.providers.test_translator_contract import CASES, _run

pytestmark = pytest.mark.skipif(SPEC is None, reason="OpenAI's spec (../shared/reference/openai-openapi) is not here")

GOLDEN = Path(__file__).resolve().parents[1] / "providers" / "golden"
ANSWER, CHUNK = "CreateChatCompletionResponse", "CreateChatCompletionStreamResponse"
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def _builtins(answer: Any) -> Any:
    return json.loads(msgspec.json.encode(answer))


def _anthropic(name: str) -> Any:
    golden = json.loads((GOLDEN / "anthropic" / f"{name}.json").read_text())
    return _builtins(from_anthropic(anthropic_wire.decode_message(json.dumps(golden["anthropic"]).encode()), "m", created=1))


def _gemini(name: str) -> Any:
    golden = json.loads((GOLDEN / "gemini" / f"{name}.json").read_text())
    return _builtins(gemini_map.to_completion(gemini_wire.decode_response(json.dumps(golden["gemini"])), "m", created=1))


BEDROCK_TOOL = {"output": {"message": {"role": "assistant", "content": [
    {"text": "Checking."}, {"toolUse": {"toolUseId": "tooluse_1", "name": "top_song", "input": {"sign": "WZPZ"}}}]}},
    "stopReason": "tool_use", "usage": {"inputTokens": 375, "outputTokens": 42, "totalTokens": 417}}
BEDROCK_TEXT = {"output": {"message": {"role": "assistant", "content": [{"text": "Hello."}]}}, "stopReason": "end_turn",
                "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}}
BEDROCK_REASONING = {"output": {"message": {"role": "assistant", "content": [
    {"reasoningContent": {"reasoningText": {"text": "Hmm.", "signature": "c2ln"}}}, {"reasoningContent": {"redactedContent": "cmVk"}},
    {"text": "Hello."}]}}, "stopReason": "end_turn", "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}}
COHERE_TEXT = {"id": "c1", "finish_reason": "COMPLETE", "message": {"role": "assistant", "content": [{"type": "text", "text": "Hi."}]},
               "usage": {"tokens": {"input_tokens": 5, "output_tokens": 2}}}
COHERE_TOOL = {"id": "c2", "finish_reason": "TOOL_CALL", "message": {"role": "assistant", "tool_plan": "I will look.", "tool_calls": [
    {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
    "usage": {"tokens": {"input_tokens": 5, "output_tokens": 2}}}
WATSONX_TEXT = {"id": "w1", "created": 1, "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi."},
                                                      "finish_reason": "stop"}],
                "usage": {"completion_tokens": 2, "prompt_tokens": 3, "total_tokens": 5}}
WATSONX_TOOL = {"id": "w2", "created": 1, "choices": [{"index": 0, "message": {"role": "assistant", "tool_calls": [
    {"id": "call1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}, "finish_reason": "tool_calls"}],
    "usage": {"completion_tokens": 2, "prompt_tokens": 3, "total_tokens": 5}}

ANSWERS = {
    **{f"anthropic {n}": (lambda n=n: _anthropic(n)) for n in ("response_text", "response_tool_use", "response_thinking",
                                                             "response_max_tokens")},
    **{f"gemini {n}": (lambda n=n: _gemini(n)) for n in ("response_text", "response_function_call")},
    "bedrock text": lambda: _builtins(bedrock_map.from_converse(BEDROCK_TEXT, "m", "chatcmpl-b", created=1)),
    "bedrock tool_use": lambda: _builtins(bedrock_map.from_converse(BEDROCK_TOOL, "m", "chatcmpl-b", created=1)),
    "bedrock reasoning": lambda: _builtins(bedrock_map.from_converse(BEDROCK_REASONING, "m", "chatcmpl-b", created=1)),
    "cohere text": lambda: _builtins(cohere.chat_response(COHERE_TEXT, "m", created=1)),
    "cohere tool_call": lambda: _builtins(cohere.chat_response(COHERE_TOOL, "m", created=1)),
    "cohere logprobs": lambda: _builtins(cohere.chat_response(
        {**COHERE_TEXT, "logprobs": [{"token_ids": [5, 6], "text": "Hi.", "logprobs": [-0.5, -0.25]}]}, "m", created=1)),
    "watsonx text": lambda: _builtins(watsonx.chat_response(WATSONX_TEXT, "m")),
    "watsonx tool_calls": lambda: _builtins(watsonx.chat_response(WATSONX_TOOL, "m")),
}


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_every_translated_answer_is_valid_for_openai(name) -> None:
    answer = ANSWERS[name]()
    assert errors(ANSWER, answer) == [], answer


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_translated_chunk_is_valid_for_openai(name) -> None:
    make, events = CASES[name]
    chunks = [json.loads(c[len(b"data: "):]) for c in _run(make(), events()) if c != b"data: [DONE]\n\n"]
    assert chunks
    for chunk in chunks:
        assert errors(CHUNK, chunk) == [], chunk


@pytest.fixture(scope="module")
def mock_gateway() -> Iterator[GatewayProcess]:
    process = GatewayProcess("[providers.mock]\n").start()
    yield process
    process.stop()


@pytest.mark.parametrize("tools", [False, True])
def test_mock_answers_and_chunks_are_valid_for_openai(mock_gateway, tools) -> None:
    body: dict[str, Any] = {"model": "mock/m", "messages": [{"role": "user", "content": "hello"}]}
    if tools:
        body["tools"] = [TOOL]
    url = f"{mock_gateway.url}/v1/chat/completions"
    answer = httpx.post(url, json=body, headers=mock_gateway.auth, timeout=15).json()
    assert errors(ANSWER, answer) == [], answer
    streamed = httpx.post(url, json={**body, "stream": True, "stream_options": {"include_usage": True}},
                          headers=mock_gateway.auth, timeout=15)
    chunks = [json.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: {")]
    assert chunks
    for chunk in chunks:
        assert errors(CHUNK, chunk) == [], chunk
