"""POST /v1/messages with the official `anthropic` SDK as the client, routed to the mock, to an
OpenAI-compatible provider, to Gemini (translated through the chat shape) and to Anthropic (native)."""

from __future__ import annotations

import base64

import anthropic
import httpx
import pytest

from tests.integration.inbound_setup import GATEWAY_KEY, anthropic_fake, gateway, gemini_fake  # noqa: F401

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
WEATHER = {"name": "get_weather", "description": "Current weather",
           "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}
EXPECTED = {
    "mock/mock-1": "This is a mock response from LLMG. You said: Hello",
    "groq/gpt-4o": "echo: Hello",
    "gemini/gemini-2.0-flash": "echo: Hello",
    "anthropic/claude-sonnet-4-5": "echo: Hello",
}
TOOL_MODELS = ["mock/mock-1", "gemini/gemini-2.0-flash", "anthropic/claude-sonnet-4-5"]


@pytest.fixture(scope="module")
def client(gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)


@pytest.mark.parametrize("model", list(EXPECTED))
def test_plain(client, model) -> None:
    message = client.messages.create(model=model, max_tokens=100, messages=[{"role": "user", "content": "Hello"}])
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text"
    assert message.content[0].text.strip() == EXPECTED[model]
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens > 0


@pytest.mark.parametrize("model", list(EXPECTED))
def test_streamed(client, model) -> None:
    with client.messages.stream(model=model, max_tokens=100, messages=[{"role": "user", "content": "Hello"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.strip() == EXPECTED[model]
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def test_stream_event_sequence_on_a_translated_provider(gateway) -> None:
    body = {"model": "groq/gpt-4o", "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "a b"}]}
    with httpx.stream("POST", f"{gateway.url}/v1/messages", json=body, headers={"x-api-key": GATEWAY_KEY}, timeout=10) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        names = [line[7:] for line in r.iter_lines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]


@pytest.mark.parametrize("model", TOOL_MODELS)
def test_tool_use_round_trip(client, model) -> None:
    question = {"role": "user", "content": "Weather in Paris?"}
    first = client.messages.create(model=model, max_tokens=200, tools=[WEATHER], messages=[question])
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.name == "get_weather" and isinstance(use.input, dict) and use.id
    final = client.messages.create(model=model, max_tokens=200, tools=[WEATHER], messages=[
        question,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 21C"}]},
    ])
    assert final.stop_reason == "end_turn"
    assert "sunny, 21C" in final.content[0].text


@pytest.mark.parametrize("model", TOOL_MODELS)
def test_streamed_tool_use(client, model) -> None:
    with client.messages.stream(model=model, max_tokens=200, tools=[WEATHER],
                                messages=[{"role": "user", "content": "Weather in Paris?"}]) as stream:
        final = stream.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    assert uses and uses[0].name == "get_weather"
    assert isinstance(uses[0].input, dict)
    assert final.stop_reason == "tool_use"


def test_translation_reaches_an_openai_compatible_provider(client, openai_fake) -> None:
    """System blocks, images, stop_sequences, tool_choice and metadata, as the OpenAI upstream sees them."""
    client.messages.create(
        model="groq/gpt-4o", max_tokens=64, stop_sequences=["END"], extra_body={"temperature": 0.5}, metadata={"user_id": "u-1"},
        system=[{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}],
        tools=[WEATHER], tool_choice={"type": "any", "disable_parallel_tool_use": True},
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        ]}],
    )
    sent = openai_fake.requests[-1]
    assert sent.path == "/v1/chat/completions"
    body = sent.json()
    assert body["model"] == "gpt-4o"
    assert body["messages"][0] == {"role": "system", "content": "Be brief.\n\nBe kind."}
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]
    assert body["stop"] == ["END"] and body["max_tokens"] == 64 and body["temperature"] == 0.5
    assert body["user"] == "u-1"
    assert body["tool_choice"] == "required" and body["parallel_tool_calls"] is False
    assert body["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]


def test_tool_result_images_reach_an_openai_compatible_provider_in_a_user_message(client, openai_fake) -> None:
    """OpenAI takes images in user messages only: a tool_result's images follow the tool message."""
    client.messages.create(model="groq/gpt-4o", max_tokens=64, tools=[WEATHER], messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
                {"type": "text", "text": "radar:"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]},
            {"type": "text", "text": "Summarise."}]},
    ])
    messages = openai_fake.requests[-1].json()["messages"]
    assert messages[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "radar:"}
    assert messages[3] == {"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}, {"type": "text", "text": "Summarise."}]}


@pytest.mark.parametrize("model", ["gemini/gemini-2.0-flash", "mock/mock-1"])
def test_tool_result_images_are_accepted_by_translated_providers(client, model) -> None:
    question = {"role": "user", "content": "Weather in Paris?"}
    first = client.messages.create(model=model, max_tokens=200, tools=[WEATHER], messages=[question])
    use = next(b for b in first.content if b.type == "tool_use")  # the provider's own call (Gemini signs it)
    message = client.messages.create(model=model, max_tokens=64, tools=[WEATHER], messages=[
        question,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": [
            {"type": "text", "text": "radar:"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]}]},
    ])
    assert message.stop_reason in ("end_turn", "tool_use")


def test_native_anthropic_body_passes_through(client, anthropic_fake) -> None:
    """To Anthropic, nothing is translated: only `model` changes (thinking, service_tier, images
    included; not top_k, which Anthropic refuses beside thinking)."""
    anthropic_fake.clear()
    message = client.messages.create(
        model="anthropic/thinking", max_tokens=2000, extra_body={"service_tier": "auto"}, stop_sequences=["zzz"],
        thinking={"type": "enabled", "budget_tokens": 1024},
        system=[{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        ]}],
        extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"},
    )
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[1].text == "echo: look [image:base64]"
    sent = anthropic_fake.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert sent.headers["x-api-key"] != GATEWAY_KEY  # the provider key, never the client's
    body = sent.json()
    assert body["model"] == "thinking" and body["service_tier"] == "auto"
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}


def test_native_stream_carries_thinking_deltas(gateway) -> None:
    body = {"model": "anthropic/thinking", "max_tokens": 2000, "stream": True,
            "thinking": {"type": "enabled", "budget_tokens": 1024}, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream("POST", f"{gateway.url}/v1/messages", json=body, headers={"x-api-key": GATEWAY_KEY}, timeout=10) as r:
        text = r.read().decode()
    assert '"thinking_delta"' in text and '"signature_delta"' in text and "event: message_stop" in text


def test_native_passes_bodies_outside_the_translatable_subset(gateway, anthropic_fake) -> None:
    """A server tool is not something the gateway can translate, but Anthropic itself gets it as sent."""
    body = {"model": "anthropic/claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "web_search_20250305", "name": "web_search"}]}
    r = httpx.post(f"{gateway.url}/v1/messages", json=body, headers={"x-api-key": GATEWAY_KEY}, timeout=10)
    assert anthropic_fake.requests[-1].json()["tools"] == body["tools"]
    assert r.json()["type"] == "error" and r.status_code == 400  # the fake's own validation answered
    translated = httpx.post(f"{gateway.url}/v1/messages", json={**body, "model": "groq/gpt-4o"},
                            headers={"x-api-key": GATEWAY_KEY}, timeout=10)
    assert translated.status_code == 400
    assert translated.json()["error"]["type"] == "invalid_request_error"


def test_count_tokens(client) -> None:
    messages = [{"role": "user", "content": "one two three four"}]
    exact = client.messages.count_tokens(model="anthropic/claude-sonnet-4-5", messages=messages, tools=[WEATHER])
    assert exact.input_tokens == 14  # the fake's count: 4 words + 10 per tool
    estimate = client.messages.count_tokens(model="mock/mock-1", messages=messages)
    assert 1 <= estimate.input_tokens < 100


def test_error_types(gateway, client) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="nosuch/x", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.body == {"type": "error", "error": {"type": "not_found_error", "message": "Unknown provider: nosuch"}}
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="mock/mock-1", max_tokens=0, messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["error"]["type"] == "invalid_request_error"
    invalid = httpx.post(f"{gateway.url}/v1/messages", json={"model": "nosuch/x", "messages": []}, headers={"x-api-key": GATEWAY_KEY})
    assert invalid.status_code == 400  # an invalid body is a 400 whatever its model
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model="anthropic/error-429", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.RateLimitError):  # translated path: the OpenAI upstream's 429
        client.messages.create(model="groq/error-429", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    wrong = anthropic.Anthropic(base_url=gateway.url, api_key="not-the-key", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        wrong.messages.create(model="mock/mock-1", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.body == {"type": "error", "error": {"type": "authentication_error", "message": "Invalid authentication"}}
    bearer = anthropic.Anthropic(base_url=gateway.url, auth_token=GATEWAY_KEY, max_retries=0)
    assert bearer.messages.create(model="mock/mock-1", max_tokens=10, messages=[{"role": "user", "content": "x"}]).content


def test_error_mid_stream_is_an_error_event(gateway) -> None:
    body = {"model": "groq/stream-fail", "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "x"}]}
    with httpx.stream("POST", f"{gateway.url}/v1/messages", json=body, headers={"x-api-key": GATEWAY_KEY}, timeout=10) as r:
        text = r.read().decode()
    assert "event: error" in text and '"type":"error"' in text
    assert "[DONE]" not in text


def test_x_api_key_is_accepted_on_messages_only(gateway) -> None:
    body = {"model": "mock/mock-1", "messages": [{"role": "user", "content": "x"}]}
    r = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers={"x-api-key": GATEWAY_KEY})
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error" and "type" not in r.json()  # OpenAI's shape there
