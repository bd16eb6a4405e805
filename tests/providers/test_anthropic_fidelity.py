"""Anthropic's documented rules, enforced by the strict fake, kept by the translation: extended
thinking (from ``thinking`` or ``reasoning_effort``) with its max_tokens / temperature / top_k /
top_p / forced-tool rules, whitespace-only text and stop sequences, no email as metadata.user_id."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes import anthropic_upstream
from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess

KEY = "sk-ant-fidelity-0123"
MODEL = "anthropic/claude-sonnet-4-5"
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeServer]:
    server = anthropic_upstream.start(KEY)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(fake: FakeServer) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(f'[providers.anthropic]\napi_key = "{KEY}"\nbase_url = "{fake.url}/v1"\ntimeout = 5\n').start()
    yield gw
    gw.stop()


def post(gateway: GatewayProcess, fake: FakeServer, **extra) -> httpx.Response:
    fake.clear()
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], **extra}
    return httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=gateway.auth, timeout=15)


def sent(fake: FakeServer) -> dict:
    # Only the chat call: the gateway's background model-list refresh (GET /v1/models) may land
    # in the same window on a loaded machine.
    posts = [r for r in fake.requests if r.method == "POST"]
    assert len(posts) == 1
    return posts[0].json()


@pytest.mark.parametrize(("effort", "budget"), [("low", 1024), ("medium", 4096), ("high", 16384)])
def test_reasoning_effort_becomes_thinking_with_room_for_the_answer(gateway, fake, effort, budget) -> None:
    response = post(gateway, fake, reasoning_effort=effort)
    assert response.status_code == 200, response.text
    body = sent(fake)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] > budget


def test_reasoning_effort_budget_fits_under_the_clients_max_tokens(gateway, fake) -> None:
    response = post(gateway, fake, reasoning_effort="high", max_tokens=3000)
    assert response.status_code == 200, response.text
    assert sent(fake)["thinking"]["budget_tokens"] == 2999 and sent(fake)["max_tokens"] == 3000


def test_thinking_without_max_tokens_sets_max_tokens_above_the_budget(gateway, fake) -> None:
    response = post(gateway, fake, thinking={"type": "enabled", "budget_tokens": 8000})
    assert response.status_code == 200, response.text
    assert sent(fake)["max_tokens"] > 8000


def test_reasoning_effort_none_means_no_thinking(gateway, fake) -> None:
    assert post(gateway, fake, reasoning_effort="none").status_code == 200
    assert "thinking" not in sent(fake)


@pytest.mark.parametrize(("extra", "param"), [
    ({"reasoning_effort": "low", "tools": [WEATHER], "tool_choice": "required"}, "tool_choice"),
    ({"reasoning_effort": "low", "tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}, "tool_choice"),
    ({"reasoning_effort": "low", "temperature": 0.2}, "temperature"),
    ({"thinking": {"type": "enabled", "budget_tokens": 2000}, "top_k": 5}, "top_k"),
    ({"thinking": {"type": "enabled", "budget_tokens": 2000}, "top_p": 0.5}, "top_p"),
    ({"thinking": {"type": "enabled", "budget_tokens": 500}}, "thinking.budget_tokens"),
    ({"thinking": {"type": "enabled", "budget_tokens": 2000}, "max_tokens": 1500}, "max_tokens"),
    ({"reasoning_effort": "low", "max_tokens": 800}, "max_tokens"),
    ({"reasoning_effort": "extreme"}, "reasoning_effort"),
])
def test_what_thinking_forbids_is_a_clear_400_before_the_upstream(gateway, fake, extra, param) -> None:
    response = post(gateway, fake, **extra)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert not fake.requests


def test_thinking_with_auto_tool_choice_and_temperature_one_is_fine(gateway, fake) -> None:
    response = post(gateway, fake, reasoning_effort="low", temperature=1, tools=[WEATHER], tool_choice="auto")
    assert response.status_code == 200, response.text


def test_whitespace_only_text_and_stop_sequences_are_left_out(gateway, fake) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "  "}, {"type": "text", "text": "hi"}]},
                {"role": "assistant", "content": "\n"}, {"role": "user", "content": "again"}]
    response = post(gateway, fake, messages=messages, stop=[" ", "END", "\n"])
    assert response.status_code == 200, response.text
    body = sent(fake)
    assert body["stop_sequences"] == ["END"]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "again"}]}]


def test_email_user_is_not_sent_as_user_id(gateway, fake) -> None:
    assert post(gateway, fake, user="jane.doe@example.com").status_code == 200
    assert "metadata" not in sent(fake)
    assert post(gateway, fake, user="u-8f3a").status_code == 200
    assert sent(fake)["metadata"] == {"user_id": "u-8f3a"}


def test_cache_control_is_kept_on_blocks_tools_and_system(gateway, fake) -> None:
    mark = {"type": "ephemeral"}
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Long shared instructions.", "cache_control": mark},
                                       {"type": "text", "text": "Per-call notes."}]},
        {"role": "user", "content": [{"type": "text", "text": "A long document.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
    ]
    tools = [{**WEATHER, "cache_control": mark}]
    response = post(gateway, fake, messages=messages, tools=tools)
    assert response.status_code == 200, response.text
    body = sent(fake)
    assert body["system"] == [{"type": "text", "text": "Long shared instructions.", "cache_control": mark},
                              {"type": "text", "text": "Per-call notes."}]
    assert body["messages"][0]["content"] == [{"type": "text", "text": "A long document.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    assert body["tools"][0]["cache_control"] == mark


def test_system_without_cache_control_stays_one_string(gateway, fake) -> None:
    messages = [{"role": "system", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"role": "user", "content": "hi"}]
    assert post(gateway, fake, messages=messages).status_code == 200
    assert sent(fake)["system"] == "a\nb"


# --- thinking signatures in streams, images in tool results ------------------------------------

THINKING_ON = {"type": "enabled", "budget_tokens": 1024}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def stream_message(gateway: GatewayProcess, fake: FakeServer, **extra) -> dict:
    """The assistant message a client assembles from a stream: every delta field concatenated,
    ``thinking_blocks`` appended, tool calls joined by index (as the OpenAI SDKs accumulate them)."""
    fake.clear()
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "stream": True, **extra}
    message: dict = {"role": "assistant", "content": "", "reasoning_content": "", "thinking_blocks": []}
    calls: dict[int, dict] = {}
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, headers=gateway.auth, timeout=15) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if not line.startswith("data: {"):
                continue
            for choice in json.loads(line[6:])["choices"]:
                delta = choice["delta"]
                message["content"] += delta.get("content") or ""
                message["reasoning_content"] += delta.get("reasoning_content") or ""
                message["thinking_blocks"] += delta.get("thinking_blocks") or []
                for call in delta.get("tool_calls") or []:
                    entry = calls.setdefault(call["index"], {"type": "function", "function": {"name": "", "arguments": ""}})
                    entry["id"] = call.get("id") or entry.get("id")
                    entry["function"]["name"] += (call.get("function") or {}).get("name") or ""
                    entry["function"]["arguments"] += (call.get("function") or {}).get("arguments") or ""
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message


def test_streamed_thinking_and_tool_use_turn_can_be_sent_back(gateway, fake) -> None:
    """The signature arrives as a signature_delta; the stream must carry it, or the client cannot
    send the thinking + tool_use turn back (Anthropic verifies the signed block)."""
    message = stream_message(gateway, fake, model="anthropic/thinking", tools=[WEATHER], thinking=THINKING_ON)
    assert message["thinking_blocks"] == [{"type": "thinking", "thinking": anthropic_upstream.THINKING,
                                           "signature": anthropic_upstream.SIGNATURE}]
    assert message["reasoning_content"] == anthropic_upstream.THINKING
    history = [{"role": "user", "content": "hello"}, message,
               {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "sunny"}]
    response = post(gateway, fake, model="anthropic/thinking", messages=history, tools=[WEATHER], thinking=THINKING_ON)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Tool said: sunny"
    assert sent(fake)["messages"][1]["content"][0] == message["thinking_blocks"][0]


def test_streamed_redacted_thinking_is_kept_like_a_plain_answer(gateway, fake) -> None:
    plain = post(gateway, fake, model="anthropic/thinking-redacted", tools=[WEATHER], thinking=THINKING_ON)
    assert plain.status_code == 200, plain.text
    expected = plain.json()["choices"][0]["message"]["thinking_blocks"]
    assert [b["type"] for b in expected] == ["thinking", "redacted_thinking"]
    message = stream_message(gateway, fake, model="anthropic/thinking-redacted", tools=[WEATHER], thinking=THINKING_ON)
    assert message["thinking_blocks"] == expected
    history = [{"role": "user", "content": "hello"}, message,
               {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "sunny"}]
    response = post(gateway, fake, model="anthropic/thinking-redacted", messages=history, tools=[WEATHER], thinking=THINKING_ON)
    assert response.status_code == 200, response.text
    assert [b["type"] for b in sent(fake)["messages"][1]["content"][:2]] == ["thinking", "redacted_thinking"]


def test_a_forged_signature_is_anthropics_400(gateway, fake) -> None:
    call = {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    history = [{"role": "user", "content": "hello"},
               {"role": "assistant", "content": None, "tool_calls": [call],
                "thinking_blocks": [{"type": "thinking", "thinking": "made up", "signature": anthropic_upstream.SIGNATURE}]},
               {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"}]
    response = post(gateway, fake, model="anthropic/thinking", messages=history, tools=[WEATHER], thinking=THINKING_ON)
    assert response.status_code == 400
    assert "Invalid `signature`" in response.json()["error"]["message"]


def test_images_inside_a_tool_result_stay_in_its_tool_result(gateway, fake) -> None:
    call = {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    result = [{"type": "text", "text": "the radar:"},
              {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
              {"type": "image_url", "image_url": {"url": "https://example.com/radar.png"}}]
    history = [{"role": "user", "content": "weather?"}, {"role": "assistant", "content": None, "tool_calls": [call]},
               {"role": "tool", "tool_call_id": "toolu_1", "content": result}]
    response = post(gateway, fake, messages=history, tools=[WEATHER])
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Tool said: the radar: [image:base64] [image:url]"
    assert sent(fake)["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [
        {"type": "text", "text": "the radar:"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/radar.png"}}]}]


def test_text_only_tool_result_stays_a_string(gateway, fake) -> None:
    call = {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    history = [{"role": "user", "content": "weather?"}, {"role": "assistant", "content": None, "tool_calls": [call]},
               {"role": "tool", "tool_call_id": "toolu_1", "content": [{"type": "text", "text": "sun"}, {"type": "text", "text": "ny"}]}]
    assert post(gateway, fake, messages=history, tools=[WEATHER]).status_code == 200
    assert sent(fake)["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]


def test_cache_control_inside_a_tool_result_is_kept(gateway, fake) -> None:
    call = {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    mark = {"type": "ephemeral"}
    history = [{"role": "user", "content": "weather?"}, {"role": "assistant", "content": None, "tool_calls": [call]},
               {"role": "tool", "tool_call_id": "toolu_1", "content": [{"type": "text", "text": "a long report", "cache_control": mark}]}]
    response = post(gateway, fake, messages=history, tools=[WEATHER])
    assert response.status_code == 200, response.text
    assert sent(fake)["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [
        {"type": "text", "text": "a long report", "cache_control": mark}]}]
