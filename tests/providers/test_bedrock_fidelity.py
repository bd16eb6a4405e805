"""Bedrock Converse fidelity, round two: toolChoice only where the model takes it, cachePoint blocks
from cache_control, and reasoning signatures kept and sent back, against the strict fake
(tests/fakes/bedrock_upstream.py), which refuses what Bedrock refuses with Bedrock's messages."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from llmg.errors import GatewayError
from llmg.providers.bedrock_map import accepted_tool_choices, to_converse
from llmg.sigv4 import Signer
from tests.fakes.bedrock_upstream import REASONING, REDACTED, sign
from tests.providers.test_bedrock import (  # noqa: F401  (fixtures)
    ACCESS,
    REGION,
    SEARCH,
    SECRET,
    WEATHER,
    client,
    fake,
    gateway,
    last_body,
)

LLAMA = "meta.llama3-1-70b-instruct-v1:0"
MISTRAL_LARGE = "mistral.mistral-large-2407-v1:0"
NOVA = "us.amazon.nova-pro-v1:0"
SONNET = "us.anthropic.claude-sonnet-4-20250514-v1:0"
ASK = [{"role": "user", "content": "weather in Paris?"}]


def named(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


# --- toolChoice ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model,choice,words", [
    (LLAMA, "required", '"required"'),
    (LLAMA, named("search"), "a named function"),
    (MISTRAL_LARGE, named("search"), "a named function"),
])
def test_a_forced_choice_the_model_cannot_take_is_a_clear_400(client, fake, model, choice, words):
    fake.clear()
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=f"bedrock/{model}", messages=ASK, tools=[WEATHER, SEARCH], tool_choice=choice)
    assert model in info.value.message and words in info.value.message
    assert info.value.body["param"] == "tool_choice" and info.value.body["code"] == "unsupported_parameter"
    assert fake.requests == []  # refused before it reached Bedrock


def test_tool_choice_is_sent_only_where_the_model_takes_it(client, fake):
    # Llama refuses the toolChoice field altogether (auto included): auto, the default, is left out.
    fake.clear()
    reply = client.chat.completions.create(model=f"bedrock/{LLAMA}", messages=ASK, tools=[WEATHER], tool_choice="auto")
    assert reply.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert last_body(fake)["toolConfig"] == {"tools": [{"toolSpec": {
        "name": "get_weather", "description": "Current weather", "inputSchema": {"json": WEATHER["function"]["parameters"]}}}]}
    for model, choice, sent in [
        (MISTRAL_LARGE, "required", {"any": {}}),
        (NOVA, named("search"), {"tool": {"name": "search"}}),
        (NOVA, "required", {"any": {}}),
        (SONNET, named("search"), {"tool": {"name": "search"}}),
        # A provisioned-throughput ARN does not say which model it is: the choice goes as asked.
        (f"arn:aws:bedrock:{REGION}:123456789012:provisioned-model/a1b2c3d4e5f6", "required", {"any": {}}),
    ]:
        fake.clear()
        reply = client.chat.completions.create(model=f"bedrock/{model}", messages=ASK, tools=[WEATHER, SEARCH], tool_choice=choice)
        assert reply.choices[0].finish_reason == "tool_calls"
        assert last_body(fake)["toolConfig"]["toolChoice"] == sent


def test_tool_choice_table_reads_profiles_and_arns():
    assert accepted_tool_choices("eu.anthropic.claude-3-7-sonnet-20250219-v1:0") == {"auto", "any", "tool"}
    assert accepted_tool_choices(f"arn:aws:bedrock:{REGION}:1:inference-profile/global.amazon.nova-lite-v1:0") == {"auto", "any", "tool"}
    assert accepted_tool_choices("cohere.command-r-plus-v1:0") == frozenset()
    assert accepted_tool_choices("amazon.titan-text-premier-v1:0") == frozenset()


def _signed_post(fake, model: str, body: dict[str, Any]) -> httpx.Response:
    path = f"/model/{model}/converse"
    raw = json.dumps(body).encode()
    headers = Signer(ACCESS, SECRET, REGION, "bedrock").sign("POST", f"127.0.0.1:{fake.port}", path, raw,
                                                             headers={"content-type": "application/json"})
    return httpx.post(f"{fake.url}{path}", headers=headers, content=raw)


def test_fake_refuses_tool_choice_and_cache_points_as_bedrock_does(fake):
    tools = {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}]}
    answer = _signed_post(fake, LLAMA, {"messages": [{"role": "user", "content": [{"text": "hi"}]}],
                                        "toolConfig": {**tools, "toolChoice": {"any": {}}}})
    assert answer.status_code == 400 and answer.headers["x-amzn-ErrorType"].startswith("ValidationException:")
    assert answer.json()["message"] == ("This model doesn't support the toolConfig.toolChoice.any field. "
                                        "Remove toolConfig.toolChoice.any and try again.")
    answer = _signed_post(fake, LLAMA, {"messages": [{"role": "user", "content": [{"text": "hi"}, {"cachePoint": {"type": "default"}}]}]})
    assert answer.status_code == 400 and "did not allow prompt caching" in answer.json()["message"]
    five = [{"text": "x"}, *[{"cachePoint": {"type": "default"}}] * 5]
    answer = _signed_post(fake, SONNET, {"messages": [{"role": "user", "content": five}]})
    assert answer.json()["message"] == "A maximum of 4 blocks with cache_control may be provided. Found 5."


# --- cachePoint ---------------------------------------------------------------------------------

CACHED = {"type": "ephemeral"}


def test_cache_control_becomes_cache_points_and_the_second_call_reads_the_cache(gateway, fake):
    long_text = "The policy manual. " * 50
    body = {
        "model": f"bedrock/{SONNET}",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "You answer from the manual."},
                                           {"type": "text", "text": long_text, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
            {"role": "user", "content": [{"type": "text", "text": "Context: a long document", "cache_control": CACHED},
                                         {"type": "text", "text": "What does it say?"}]},
        ],
        "tools": [{**WEATHER, "cache_control": CACHED}],
        "tool_choice": "none",
    }
    fake.clear()
    first = httpx.post(f"{gateway.url}/v1/chat/completions", headers=gateway.auth, json=body, timeout=20)
    assert first.status_code == 200, first.text
    sent = last_body(fake)
    assert sent["system"] == [{"text": "You answer from the manual."}, {"text": long_text},
                              {"cachePoint": {"type": "default", "ttl": "1h"}}]
    assert sent["messages"] == [{"role": "user", "content": [
        {"text": "Context: a long document"}, {"cachePoint": {"type": "default"}}, {"text": "What does it say?"}]}]
    assert "toolConfig" not in sent  # tool_choice none: the tools (and their breakpoint) are left out
    assert "cached_tokens" not in (first.json()["usage"].get("prompt_tokens_details") or {})
    second = httpx.post(f"{gateway.url}/v1/chat/completions", headers=gateway.auth, json=body, timeout=20).json()
    assert second["usage"]["prompt_tokens_details"]["cached_tokens"] > 0
    assert second["usage"]["prompt_tokens"] > first.json()["usage"]["prompt_tokens"] - 5  # cached tokens are prompt tokens


def test_cache_control_on_tools_and_models_without_caching():
    data = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": CACHED}]}],
            "tools": [WEATHER, {**SEARCH, "cache_control": CACHED}]}
    tools = to_converse(data, SONNET)["toolConfig"]["tools"]
    assert [next(iter(t)) for t in tools] == ["toolSpec", "toolSpec", "cachePoint"]
    plain = to_converse(data, LLAMA)  # Llama has no prompt caching: the hint is dropped, not sent to fail
    assert plain["messages"][0]["content"] == [{"text": "hi"}]
    assert [next(iter(t)) for t in plain["toolConfig"]["tools"]] == ["toolSpec", "toolSpec"]


# --- reasoning signatures -----------------------------------------------------------------------

THINKING = {"type": "enabled", "budget_tokens": 1024}
REASONER = "fake.reasoning-redacted-v1:0"


def _ask(gateway, messages: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(f"{gateway.url}/v1/chat/completions", headers=gateway.auth, timeout=20, json={
        "model": f"bedrock/{REASONER}", "messages": messages, "tools": [WEATHER], "thinking": THINKING})


def _tool_turn(message: dict[str, Any]) -> list[dict[str, Any]]:
    call = message["tool_calls"][0]
    return [*ASK, message, {"role": "tool", "tool_call_id": call["id"], "content": '{"temp": 21}'}]


def test_signed_and_redacted_reasoning_kept_and_sent_back(gateway, fake):
    first = _ask(gateway, ASK)
    assert first.status_code == 200, first.text
    message = first.json()["choices"][0]["message"]
    assert message["reasoning_content"] == REASONING
    assert message["thinking_blocks"] == [{"type": "thinking", "thinking": REASONING, "signature": sign(REASONING)},
                                          {"type": "redacted_thinking", "data": REDACTED}]
    fake.clear()
    second = _ask(gateway, _tool_turn(message))
    assert second.status_code == 200, second.text
    assert second.json()["choices"][0]["message"]["content"] == 'Tool said: {"temp": 21}'
    assert last_body(fake)["messages"][1]["content"][:2] == [
        {"reasoningContent": {"reasoningText": {"text": REASONING, "signature": sign(REASONING)}}},
        {"reasoningContent": {"redactedContent": REDACTED}}]
    # Without its signed reasoning the tool-use turn is refused, as Claude refuses it with thinking on.
    bare = {k: v for k, v in message.items() if k != "thinking_blocks"}
    refused = _ask(gateway, _tool_turn(bare))
    assert refused.status_code == 400 and "must start with a thinking block" in refused.json()["error"]["message"]
    edited = {**message, "thinking_blocks": [{**message["thinking_blocks"][0], "thinking": "edited"}]}
    assert "Invalid `signature`" in _ask(gateway, _tool_turn(edited)).json()["error"]["message"]


def test_streamed_reasoning_blocks_arrive_whole_and_can_be_sent_back(gateway):
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers=gateway.auth, timeout=20, json={
            "model": f"bedrock/{REASONER}", "messages": ASK, "tools": [WEATHER], "thinking": THINKING, "stream": True}) as resp:
        events = [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: {")]
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
    blocks = [b for d in deltas for b in d.get("thinking_blocks") or []]
    assert blocks == [{"type": "thinking", "thinking": REASONING, "signature": sign(REASONING)},
                      {"type": "redacted_thinking", "data": REDACTED}]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == REASONING
    calls: dict[int, dict[str, Any]] = {}
    for d in deltas:
        for part in d.get("tool_calls") or []:
            call = calls.setdefault(part["index"], {"id": part.get("id"), "type": "function", "function": {"name": "", "arguments": ""}})
            call["function"]["name"] += part["function"].get("name") or ""
            call["function"]["arguments"] += part["function"].get("arguments") or ""
    message = {"role": "assistant", "content": "".join(d.get("content") or "" for d in deltas),
               "tool_calls": list(calls.values()), "thinking_blocks": blocks}
    again = _ask(gateway, _tool_turn(message))
    assert again.status_code == 200, again.text


def test_malformed_thinking_blocks_are_a_400():
    with pytest.raises(GatewayError) as info:
        to_converse({"messages": [{"role": "user", "content": "hi"},
                                  {"role": "assistant", "content": "x", "thinking_blocks": [{"type": "image"}]}]}, SONNET)
    assert info.value.status == 400 and info.value.param == "messages[1].thinking_blocks[0]"
