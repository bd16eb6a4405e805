"""Anthropic through the real gateway: the official `openai` SDK in front, a fake Anthropic API behind.

The fake (tests/fakes/anthropic_upstream.py) validates requests like the real Messages API, so a
translation mistake shows up as the upstream's 400, and every test also checks what reached it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from llmg.config import ConfigError
from llmg.errors import GatewayError
from llmg.providers.anthropic import AnthropicProvider
from llmg.providers.anthropic_map import StreamTranslator, from_anthropic, to_anthropic
from llmg.providers.anthropic_wire import decode_message
from llmg.providers.base import Settings
from llmg.providers.catalogue import load_catalogue
from llmg.providers.translate import run, sse_decoded
from llmg.schemas.openai import encode
from llmg.transports import Timeout
from tests.fakes import anthropic_upstream
from tests.fakes.anthropic_upstream import SIGNATURE, THINKING, TOOL_INPUTS
from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess

KEY = "sk-ant-fake-0123456789"
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Current weather",
           "parameters": {"type": "object", "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
                          "required": ["location"]}}}
SEARCH = {"type": "function", "function": {"name": "search", "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeServer]:
    server = anthropic_upstream.start(KEY)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(fake: FakeServer) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(f"""
[providers.anthropic]
api_key = "{KEY}"
base_url = "{fake.url}/v1"
timeout = 5
""").start()
    yield gw
    gw.stop()


@pytest.fixture
def client(gateway: GatewayProcess, fake: FakeServer) -> openai.OpenAI:
    fake.clear()
    return openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0, timeout=10)


def sent(fake: FakeServer) -> dict:
    """The last body that reached the fake /v1/messages."""
    return [r for r in fake.requests if r.path == "/v1/messages"][-1].json()


def raw_stream(gateway: GatewayProcess, body: dict) -> list[str]:
    """The data: payloads of a streamed answer, as text, [DONE] included."""
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers=gateway.auth, json={**body, "stream": True},
                      timeout=10) as r:
        assert r.status_code == 200, r.read()
        text = r.read().decode()
    assert text.endswith("data: [DONE]\n\n")
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


# --- plain and streamed answers ---------------------------------------------------------------


def test_plain_answer(client, fake):
    r = client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}])
    assert r.choices[0].message.content == "echo: hello"
    assert r.choices[0].finish_reason == "stop"
    assert r.object == "chat.completion" and r.id == "msg_013Zva2CMHLNnXjNJJKqJ2EF"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (25, 12, 37)
    req = [x for x in fake.requests if x.path == "/v1/messages"][-1]
    assert req.headers["x-api-key"] == KEY and req.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in req.headers
    body = req.json()
    assert body == {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hello"}],
                    "max_tokens": 4096, "system": "Be brief."}


def test_streamed_answer(client, fake):
    stream = client.chat.completions.create(model="anthropic/claude-sonnet-4-5", stream=True,
                                            stream_options={"include_usage": True},
                                            messages=[{"role": "user", "content": "tell me a long story please"}])
    chunks = list(stream)
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: tell me a long story please"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 37
    assert sent(fake)["stream"] is True


def test_stream_without_usage_has_no_usage_chunk_and_ends_in_done(gateway, fake):
    events = raw_stream(gateway, {"model": "anthropic/claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]})
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["choices"] for c in chunks)
    assert sum(1 for c in chunks if c["choices"][0]["finish_reason"]) == 1


# --- tool calls -------------------------------------------------------------------------------


def test_tool_call_round_trip(client, fake):
    messages = [{"role": "user", "content": "Weather in SF, and search it"}]
    r = client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=messages, tools=[WEATHER, SEARCH])
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    calls = choice.message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "search"]
    assert [json.loads(c.function.arguments) for c in calls] == [json.loads(t) for t in TOOL_INPUTS]
    first = sent(fake)
    assert first["tools"][0] == {"name": "get_weather", "description": "Current weather",
                                 "input_schema": WEATHER["function"]["parameters"]}
    assert "tool_choice" not in first

    messages.append(choice.message.model_dump(exclude_none=True))
    messages += [{"role": "tool", "tool_call_id": calls[0].id, "content": "15 degrees"},
                 {"role": "tool", "tool_call_id": calls[1].id, "content": [{"type": "text", "text": "3 hits"}]}]
    r2 = client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=messages, tools=[WEATHER, SEARCH])
    assert r2.choices[0].message.content == "Tool said: 15 degrees; 3 hits"
    assert r2.choices[0].finish_reason == "stop"
    turns = sent(fake)["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"] == [
        {"type": "tool_use", "id": calls[0].id, "name": "get_weather", "input": json.loads(TOOL_INPUTS[0])},
        {"type": "tool_use", "id": calls[1].id, "name": "search", "input": json.loads(TOOL_INPUTS[1])}]
    assert turns[2]["content"] == [  # both results in ONE user message
        {"type": "tool_result", "tool_use_id": calls[0].id, "content": "15 degrees"},
        {"type": "tool_result", "tool_use_id": calls[1].id, "content": "3 hits"}]


def test_streamed_tool_call_round_trip(client, fake):
    messages = [{"role": "user", "content": "Weather in SF, and search it"}]
    stream = client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=messages,
                                            tools=[WEATHER, SEARCH], stream=True)
    calls: dict[int, dict] = {}
    finishes = []
    for chunk in stream:
        choice = chunk.choices[0]
        if choice.finish_reason:
            finishes.append(choice.finish_reason)
        for tc in choice.delta.tool_calls or []:
            if tc.index not in calls:  # id, type and name come on the first delta of each call
                assert tc.id and tc.function.name and tc.type == "function"
                calls[tc.index] = {"id": tc.id, "name": tc.function.name, "arguments": ""}
            else:
                assert tc.id is None and tc.function.name is None
            calls[tc.index]["arguments"] += tc.function.arguments or ""
    assert finishes == ["tool_calls"]
    assert sorted(calls) == [0, 1]
    # The streamed argument fragments concatenate to exactly the JSON text the fake streamed.
    assert [calls[i]["arguments"] for i in (0, 1)] == TOOL_INPUTS
    assert [calls[i]["name"] for i in (0, 1)] == ["get_weather", "search"]

    messages.append({"role": "assistant", "content": None, "tool_calls": [
        {"id": calls[i]["id"], "type": "function", "function": {"name": calls[i]["name"], "arguments": calls[i]["arguments"]}}
        for i in (0, 1)]})
    messages += [{"role": "tool", "tool_call_id": calls[0]["id"], "content": "15 degrees"},
                 {"role": "tool", "tool_call_id": calls[1]["id"], "content": "3 hits"}]
    stream = client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=messages,
                                            tools=[WEATHER, SEARCH], stream=True)
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Tool said: 15 degrees; 3 hits"
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["stop"]


def test_tool_choice_and_parallel_mapping(client, fake):
    cases = [("auto", {"type": "auto"}), ("none", {"type": "none"}), ("required", {"type": "any"}),
             ({"type": "function", "function": {"name": "search"}}, {"type": "tool", "name": "search"})]
    for choice, expected in cases:
        client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}],
                                       tools=[WEATHER, SEARCH], tool_choice=choice)
        assert sent(fake)["tool_choice"] == expected
    r = client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}],
                                       tools=[WEATHER, SEARCH], parallel_tool_calls=False)
    assert sent(fake)["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert len(r.choices[0].message.tool_calls) == 1


def test_tool_result_for_unknown_call_is_the_upstream_400(client, fake):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=[
            {"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "search", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "toolu_other", "content": "r"}], tools=[SEARCH])
    assert "tool_use" in info.value.message
    assert info.value.body["type"] == "invalid_request_error"


def test_bad_tool_arguments_are_a_gateway_400(client, fake):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=[
            {"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "search", "arguments": "{nope"}}]},
            {"role": "tool", "tool_call_id": "t", "content": "r"}])
    assert "not valid JSON" in info.value.message
    assert not fake.requests


# --- content, parameters, history -------------------------------------------------------------


def test_image_inputs_url_and_base64(client, fake):
    r = client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "high"}}]}])
    assert r.choices[0].message.content == "echo: what is this [image:url] [image:base64]"
    assert sent(fake)["messages"][0]["content"] == [
        {"type": "text", "text": "what is this"},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]


def test_parameters_history_and_merging(client, fake):
    client.chat.completions.create(
        model="anthropic/claude-sonnet-4-5",
        messages=[{"role": "system", "content": "Rule one."}, {"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                  {"role": "assistant", "content": "c"}, {"role": "developer", "content": "Rule two."},
                  {"role": "user", "content": [{"type": "text", "text": "d"}]}],
        max_tokens=100, max_completion_tokens=50, temperature=0.5, top_p=0.9, stop="STOP", user="user-42",
        seed=1, presence_penalty=0.1)
    body = sent(fake)
    assert body["system"] == "Rule one.\n\nRule two."
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                                {"role": "assistant", "content": "c"}, {"role": "user", "content": "d"}]
    assert body["max_tokens"] == 50 and body["temperature"] == 0.5 and body["top_p"] == 0.9
    assert body["stop_sequences"] == ["STOP"] and body["metadata"] == {"user_id": "user-42"}
    client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}],
                                   stop=["A", "B"], max_tokens=7)
    assert sent(fake)["stop_sequences"] == ["A", "B"] and sent(fake)["max_tokens"] == 7


def test_finish_reasons_length_and_stop_sequence(client, fake):
    r = client.chat.completions.create(model="anthropic/claude-sonnet-4-5",
                                       messages=[{"role": "user", "content": "one two three four"}], max_tokens=2)
    assert r.choices[0].finish_reason == "length" and r.choices[0].message.content == "echo: one"
    r = client.chat.completions.create(model="anthropic/claude-sonnet-4-5",
                                       messages=[{"role": "user", "content": "one two three"}], stop=["three"])
    assert r.choices[0].finish_reason == "stop" and r.choices[0].message.content == "echo: one two "


def test_refusal_is_content_filter(client):
    r = client.chat.completions.create(model="anthropic/refuse", messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].finish_reason == "content_filter"
    chunks = list(client.chat.completions.create(model="anthropic/refuse", messages=[{"role": "user", "content": "x"}], stream=True))
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["content_filter"]


def test_thinking_goes_to_reasoning_content(client, gateway):
    r = client.chat.completions.create(model="anthropic/thinking", messages=[{"role": "user", "content": "hi"}],
                                       extra_body={"thinking": {"type": "enabled", "budget_tokens": 1024}})
    message = r.choices[0].message
    assert message.content == "echo: hi"
    assert message.model_extra["reasoning_content"] == THINKING
    assert message.model_extra["thinking_blocks"] == [{"type": "thinking", "thinking": THINKING, "signature": SIGNATURE}]
    events = raw_stream(gateway, {"model": "anthropic/thinking", "messages": [{"role": "user", "content": "hi"}]})
    deltas = [json.loads(e)["choices"][0]["delta"] for e in events[:-1]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == THINKING
    assert "".join(d.get("content") or "" for d in deltas) == "echo: hi"


def test_thinking_blocks_are_replayed_in_a_tool_round_trip(client, fake):
    thinking = {"type": "enabled", "budget_tokens": 1024}
    messages = [{"role": "user", "content": "weather?"}]
    r = client.chat.completions.create(model="anthropic/thinking", messages=messages, tools=[WEATHER], extra_body={"thinking": thinking})
    assert r.choices[0].finish_reason == "tool_calls"
    messages.append(r.choices[0].message.model_dump(exclude_none=True))  # extra fields (thinking_blocks) included
    messages.append({"role": "tool", "tool_call_id": r.choices[0].message.tool_calls[0].id, "content": "sunny"})
    r2 = client.chat.completions.create(model="anthropic/thinking", messages=messages, tools=[WEATHER], extra_body={"thinking": thinking})
    assert r2.choices[0].message.content == "Tool said: sunny"
    assistant = sent(fake)["messages"][1]["content"]
    assert assistant[0] == {"type": "thinking", "thinking": THINKING, "signature": SIGNATURE}
    assert assistant[1]["type"] == "tool_use"
    # A client that drops thinking_blocks gets Anthropic's own explanation.
    del messages[1]["thinking_blocks"]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="anthropic/thinking", messages=messages, tools=[WEATHER], extra_body={"thinking": thinking})
    assert "must start with a thinking block" in info.value.message


def test_cached_usage(client):
    r = client.chat.completions.create(model="anthropic/cached", messages=[{"role": "user", "content": "hi"}])
    assert r.usage.prompt_tokens == 3 + 5 + 2000
    assert r.usage.prompt_tokens_details.cached_tokens == 2000
    assert r.usage.total_tokens == 2008 + 12
    chunks = list(client.chat.completions.create(model="anthropic/cached", messages=[{"role": "user", "content": "hi"}],
                                                 stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].usage.prompt_tokens == 2008 and chunks[-1].usage.prompt_tokens_details.cached_tokens == 2000


def test_json_mode_through_a_forced_tool(client, fake):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    r = client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "q"}],
                                       response_format=fmt)
    assert json.loads(r.choices[0].message.content) == {"answer": "forty-two", "confidence": 0.9}
    assert r.choices[0].finish_reason == "stop" and r.choices[0].message.tool_calls is None
    body = sent(fake)
    assert body["tool_choice"] == {"type": "tool", "name": "json_response"}
    assert body["tools"][0]["input_schema"] == schema
    chunks = list(client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "q"}],
                                                 response_format={"type": "json_object"}, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == '{"answer": "forty-two", "confidence": 0.9}'
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["stop"]


def test_unsupported_options_are_clear_400s(client, fake):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}], n=2)
    assert "n > 1" in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=[
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}])
    assert "input_audio" in info.value.message
    assert not fake.requests


def test_models_listed_from_the_upstream(gateway):
    # The live-only id is in no catalogue: it shows only if the refresh really read Anthropic's list.
    wanted = f"anthropic/{anthropic_upstream.LIVE_ONLY_MODEL}"
    ids: list[str] = []
    deadline = time.monotonic() + 20
    while wanted not in ids and time.monotonic() < deadline:
        ids = [m["id"] for m in httpx.get(f"{gateway.url}/v1/models", headers=gateway.auth, timeout=10).json()["data"]]
        time.sleep(0.2)
    assert wanted in ids and "anthropic/claude-sonnet-4-5" in ids


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "status", "kind"), [
    ("error-401", 401, "provider_error"), ("error-403", 401, "provider_error"),
    ("error-400", 400, "invalid_request_error"), ("error-404", 404, "invalid_request_error"),
    ("error-413", 413, "invalid_request_error"), ("error-429", 429, "rate_limit_error"),
    ("error-500", 502, "provider_error"), ("error-529", 503, "provider_error")])
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_errors(client, model, status, kind, stream):
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model=f"anthropic/{model}", messages=[{"role": "user", "content": "x"}], stream=stream)
    err = info.value
    assert err.status_code == status
    assert err.body["type"] == kind
    assert KEY not in err.response.text
    if status in (429, 503):
        assert err.response.headers["retry-after"] == "17"
    if model == "error-429":
        assert "rate limit" in err.message


def test_wrong_key_is_401_provider_error(fake, start_gateway):
    gw = start_gateway(f'[providers.anthropic]\napi_key = "sk-ant-wrong"\nbase_url = "{fake.url}/v1"\n')
    c = openai.OpenAI(base_url=gw.base_url, api_key=gw.token, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        c.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}])
    assert info.value.body["type"] == "provider_error"
    assert "sk-ant-wrong" not in info.value.response.text


def test_upstream_400_message_is_passed_on(client):
    with pytest.raises(openai.BadRequestError) as info:  # Anthropic caps temperature at 1
        client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}],
                                       temperature=1.5)
    assert info.value.body["message"] == "temperature: Input should be less than or equal to 1"
    assert info.value.response.headers["x-llmg-provider"] == "anthropic"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("model", "status", "type_", "code", "message"), [
    ("error-context", 400, "invalid_request_error", "context_length_exceeded", anthropic_upstream.CONTEXT_MESSAGE),
    ("error-credit", 429, "insufficient_quota", "insufficient_quota", anthropic_upstream.CREDIT_MESSAGE),
    ("error-402", 429, "insufficient_quota", "insufficient_quota", None),
])
def test_upstream_errors_get_the_openai_code(client, model, status, type_, code, message, stream):
    """langchain and pydantic-ai branch on these codes: Anthropic's own errors must carry them."""
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model=f"anthropic/{model}", messages=[{"role": "user", "content": "x"}], stream=stream)
    err = info.value
    assert (err.status_code, err.body["type"], err.body["code"]) == (status, type_, code)
    if message:
        assert err.body["message"] == message
    assert err.response.headers["x-llmg-provider"] == "anthropic"


def test_mid_stream_error_event(gateway):
    events = raw_stream(gateway, {"model": "anthropic/stream-error", "messages": [{"role": "user", "content": "hello there"}]})
    assert json.loads(events[1])["choices"][0]["delta"]["content"] == "echo: h"
    error = json.loads(events[-2])["error"]
    assert error["type"] == "provider_error" and "Overloaded" in error["message"]
    assert events[-1] == "[DONE]"
    assert not any(json.loads(e).get("choices", [{}])[0].get("finish_reason") for e in events[:-2])


def test_stream_cut_before_message_stop_is_an_error_event(gateway):
    events = raw_stream(gateway, {"model": "anthropic/stream-cut", "messages": [{"role": "user", "content": "hello there"}]})
    assert "message_stop" in json.loads(events[-2])["error"]["message"]
    assert events[-1] == "[DONE]"


# --- the fake itself: it speaks the real API (checked with the official anthropic SDK) --------


def test_fake_speaks_the_anthropic_sdk_wire_format(fake):
    # This SDK release sends the key as a Bearer token; the fake (like the documented API) wants x-api-key.
    sdk = anthropic.Anthropic(api_key=KEY, base_url=fake.url, max_retries=0, default_headers={"x-api-key": KEY})
    msg = sdk.messages.create(model="thinking", max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    assert [b.type for b in msg.content] == ["thinking", "text"] and msg.stop_reason == "end_turn"
    with sdk.messages.stream(model="m", max_tokens=100, tools=[{"name": "get_weather", "input_schema": {"type": "object"}}],
                             messages=[{"role": "user", "content": "hi"}]) as stream:
        final = stream.get_final_message()
    assert final.content[0].input == json.loads(TOOL_INPUTS[0]) and final.stop_reason == "tool_use"


def test_fake_rejects_what_the_real_api_rejects(fake):
    url = f"{fake.url}/v1/messages"
    good = {"anthropic-version": "2023-06-01", "x-api-key": KEY}
    msg = [{"role": "user", "content": "hi"}]
    cases = [
        ({"x-api-key": KEY}, {"model": "m", "max_tokens": 5, "messages": msg}, 400, "anthropic-version"),
        ({"anthropic-version": "2023-06-01"}, {"model": "m", "max_tokens": 5, "messages": msg}, 401, "x-api-key"),
        ({**good, "x-api-key": "nope"}, {"model": "m", "max_tokens": 5, "messages": msg}, 401, "invalid x-api-key"),
        (good, {"model": "m", "messages": msg}, 400, "max_tokens: Field required"),
        (good, {"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "s"}, *msg]}, 400, "system"),
        (good, {"model": "m", "max_tokens": 5, "messages": msg, "n": 1}, 400, "Extra inputs"),
        (good, {"model": "m", "max_tokens": 5, "messages": [*msg, {"role": "assistant", "content": [
            {"type": "tool_use", "id": "t1", "name": "f", "input": {}}]}, {"role": "user", "content": "no result"}]}, 400, "tool_result"),
    ]
    for headers, body, status, text in cases:
        r = httpx.post(url, headers=headers, json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["type"] == "error" and text in r.json()["error"]["message"]


# --- golden translation tests: Anthropic's documentation examples, both directions ------------

GOLDEN = Path(__file__).parent / "golden" / "anthropic"


def _golden(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text())


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("request_*.json")))
def test_golden_request(name):
    case = _golden(name)
    assert to_anthropic(case["openai"], case["model"]) == case["anthropic"]


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("response_*.json")))
def test_golden_response(name):
    case = _golden(name)
    message = decode_message(json.dumps(case["anthropic"]).encode())
    assert json.loads(encode(from_anthropic(message, "fallback-model", created=0))) == case["openai"]


def _translate(sse: bytes, include_usage: bool, split: int) -> list:
    """The adapter's own pipeline (event decoding, the translator, ``translate.run``) over the
    golden SSE bytes, fed in pieces of ``split`` bytes."""
    provider = AnthropicProvider(Settings(name="anthropic", spec=load_catalogue()["anthropic"], api_key=KEY,
                                          base_url="http://127.0.0.1:9", timeout=Timeout(total=5, connect=1),
                                          headers={}, models=None), transport=None)

    async def chunks():
        for i in range(0, len(sse), split):
            yield sse[i:i + split]

    async def collect() -> list[bytes]:
        translator = StreamTranslator("fallback-model", include_usage, created=0)
        return [c async for c in run(sse_decoded(chunks(), provider._event), translator)]

    out = asyncio.run(collect())
    events = b"".join(out).decode().split("\n\n")
    assert events[-1] == ""
    return [e[6:] if e == "data: [DONE]" else json.loads(e[6:]) for e in events[:-1]]


@pytest.mark.parametrize(("name", "include_usage"), [("stream_text", True), ("stream_tool_use", False), ("stream_thinking", True)])
@pytest.mark.parametrize("split", [1, 7, 1 << 20])
def test_golden_stream(name, include_usage, split):
    sse = (GOLDEN / f"{name}.sse").read_bytes()
    expected = [json.loads(line) for line in (GOLDEN / f"{name}.expected.jsonl").read_text().splitlines()]
    assert _translate(sse, include_usage, split) == expected


def test_golden_stream_error_event_raises_our_error():
    with pytest.raises(GatewayError) as info:
        _translate((GOLDEN / "stream_error.sse").read_bytes(), True, 5)
    assert info.value.status == 503 and "Overloaded" in info.value.message
    assert json.loads(info.value.body())["error"]["type"] == "provider_error"


@pytest.mark.parametrize(("status", "kind", "message", "ours", "our_type"), [
    (400, "invalid_request_error", "messages: roles must alternate", 400, "invalid_request_error"),
    (401, "authentication_error", "invalid x-api-key", 401, "provider_error"),
    (403, "permission_error", "Your API key does not have permission to use the specified resource.", 401, "provider_error"),
    (404, "not_found_error", "The requested resource could not be found.", 404, "invalid_request_error"),
    (413, "request_too_large", "Request exceeds the maximum allowed number of bytes.", 413, "invalid_request_error"),
    (429, "rate_limit_error", "Your account has hit a rate limit.", 429, "rate_limit_error"),
    (500, "api_error", "An unexpected error has occurred internal to Anthropic's systems.", 502, "provider_error"),
    (529, "overloaded_error", "Anthropic's API is temporarily overloaded.", 503, "provider_error"),
])
def test_golden_error_bodies(status, kind, message, ours, our_type):
    """The error examples of https://docs.anthropic.com/en/api/errors, mapped to our envelope."""
    spec = load_catalogue()["anthropic"]
    provider = AnthropicProvider(Settings(name="anthropic", spec=spec, api_key=KEY, base_url=spec.base_url,
                                          timeout=Timeout(total=5, connect=1), headers={}, models=None), transport=None)
    body = json.dumps({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"}).encode()
    err = provider.upstream_error(status, body, {"retry-after": "3"})
    assert (err.status, err.type) == (ours, our_type)
    if ours not in (401,):
        assert message in err.message
    if ours in (429, 503):
        assert err.headers["retry-after"] == "3"


def test_default_max_tokens_is_configurable():
    body = to_anthropic({"messages": [{"role": "user", "content": "x"}]}, "m", default_max_tokens=123)
    assert body["max_tokens"] == 123
    spec = load_catalogue()["anthropic"]
    with pytest.raises(ConfigError):
        AnthropicProvider(Settings(name="anthropic", spec=spec, api_key=KEY, base_url=spec.base_url, timeout=Timeout(5, 1),
                                   headers={}, models=None, params={"default_max_tokens": "lots"}), transport=None)


def test_json_mode_falls_back_to_an_instruction_with_thinking():
    body = to_anthropic({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"},
                         "thinking": {"type": "enabled", "budget_tokens": 2000}}, "m")
    assert "tools" not in body and "JSON" in body["system"] and body["thinking"]["budget_tokens"] == 2000


def test_json_mode_with_client_tools_lets_the_model_choose():
    body = to_anthropic({"messages": [{"role": "user", "content": "x"}], "tools": [SEARCH],
                         "response_format": {"type": "json_object"}}, "m")
    assert [t["name"] for t in body["tools"]] == ["search", "json_response"]
    assert body["tool_choice"] == {"type": "any"}


def test_text_after_tool_results_joins_their_user_turn_after_them():
    body = to_anthropic({"messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "a", "content": "r"},
        {"role": "user", "content": "and also"}]}, "m")
    assert body["messages"][1] == {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "f", "input": {}}]}
    assert body["messages"][2] == {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a", "content": "r"},
                                                               {"type": "text", "text": "and also"}]}


def test_pdf_file_part_becomes_a_document_block():
    body = to_anthropic({"messages": [{"role": "user", "content": [
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}},
        {"type": "text", "text": "summarise"}]}]}, "m")
    assert body["messages"][0]["content"][0] == {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                                                                "data": "JVBERi0x"}}


def test_streamed_tool_call_over_the_httpx_transport(fake, start_gateway):
    gw = start_gateway(f'[server]\ntransport = "httpx"\n\n[providers.anthropic]\napi_key = "{KEY}"\nbase_url = "{fake.url}/v1"\n')
    c = openai.OpenAI(base_url=gw.base_url, api_key=gw.token, max_retries=0)
    args: dict[int, str] = {}
    for chunk in c.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}],
                                           tools=[WEATHER, SEARCH], stream=True):
        for tc in chunk.choices[0].delta.tool_calls or []:
            args[tc.index] = args.get(tc.index, "") + (tc.function.arguments or "")
    assert [args[0], args[1]] == TOOL_INPUTS


def test_client_leaving_mid_stream_closes_the_upstream_stream(gateway, fake):
    fake.clear()
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers=gateway.auth, timeout=10,
                      json={"model": "anthropic/slow-stream", "stream": True,
                            "messages": [{"role": "user", "content": "a fairly long sentence to stream slowly"}]}) as r:
        for line in r.iter_lines():
            if '"content":"echo' in line:
                break
    deadline = time.monotonic() + 5
    while not fake.events.get("streams_abandoned") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.events.get("streams_abandoned") == 1
    assert not fake.events.get("streams_ended")


def test_final_assistant_prefill_loses_trailing_whitespace():
    body = to_anthropic({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "The answer is "}]}, "m")
    assert body["messages"][-1] == {"role": "assistant", "content": "The answer is"}
    body = to_anthropic({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "  "}]}, "m")
    assert body["messages"] == [{"role": "user", "content": "x"}]
