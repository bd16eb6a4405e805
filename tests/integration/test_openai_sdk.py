"""The official openai SDK against a real gateway process and a real fake OpenAI upstream."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import FAKE_OPENAI_KEY


@pytest.fixture(scope="module")
def client(openai_gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=openai_gateway.base_url, api_key="any-token", max_retries=0, timeout=10)


def test_chat(client, openai_fake) -> None:
    reply = client.chat.completions.create(model="openai/gpt-4o", messages=[{"role": "user", "content": "Hello!"}])
    assert reply.choices[0].message.content == "echo: Hello!"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.total_tokens == 7
    assert reply.system_fingerprint == "fp_fake"  # upstream extras are kept
    sent = openai_fake.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {FAKE_OPENAI_KEY}"
    assert sent.json()["model"] == "gpt-4o"


def test_unknown_fields_pass_through(client, openai_fake) -> None:
    client.chat.completions.create(
        model="openai/gpt-4o",
        messages=[{"role": "user", "content": "x"}],
        seed=7,
        extra_body={"prediction": {"type": "content", "content": "p"}, "some_future_field": [1, 2]},
    )
    body = openai_fake.requests[-1].json()
    assert body["seed"] == 7
    assert body["prediction"] == {"type": "content", "content": "p"}
    assert body["some_future_field"] == [1, 2]


def test_alias(client, openai_fake) -> None:
    client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}])
    assert openai_fake.requests[-1].json()["model"] == "gpt-4o-mini"


def test_streaming(client) -> None:
    stream = client.chat.completions.create(
        model="openai/gpt-4o", messages=[{"role": "user", "content": "one two"}], stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two "
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 7


def test_embeddings(client, openai_fake) -> None:
    result = client.embeddings.create(model="openai/text-embedding-3-small", input=["a", "b"])
    assert [d.index for d in result.data] == [0, 1]
    assert result.data[0].embedding == [0.1, 0.2, 0.3]
    assert openai_fake.requests[-1].json()["model"] == "text-embedding-3-small"


def test_models_lists_provider_prefixed_ids(client) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"mock/mock-1", "openai/gpt-4o", "openai/gpt-4o-mini"} <= ids
    assert all("/" in i for i in ids)


def test_model_retrieve(client) -> None:
    assert client.models.retrieve("mock/mock-1").owned_by == "llmg-mock"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("mock/nope")


def test_mock_chat_stream_and_embeddings(client) -> None:
    reply = client.chat.completions.create(model="mock/mock-1", messages=[{"role": "user", "content": "Hi"}])
    assert reply.choices[0].message.content == "This is a mock response from LLMG. You said: Hi"
    again = client.chat.completions.create(model="mock/mock-1", messages=[{"role": "user", "content": "Hi"}])
    assert again.id == reply.id  # deterministic
    streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="mock/mock-1", messages=[{"role": "user", "content": "Hi"}], stream=True) if c.choices)
    assert streamed == reply.choices[0].message.content
    vectors = client.embeddings.create(model="mock/mock-embed-1", input=["a", "a", "b"], dimensions=8)
    assert len(vectors.data[0].embedding) == 8
    assert vectors.data[0].embedding == vectors.data[1].embedding != vectors.data[2].embedding


def test_mock_tool_call_round_trip(client) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}]
    first = client.chat.completions.create(model="mock/mock-1", tools=tools,
                                           messages=[{"role": "user", "content": "weather?"}])
    call = first.choices[0].message.tool_calls[0]
    assert (first.choices[0].finish_reason, call.function.name) == ("tool_calls", "get_weather")
    final = client.chat.completions.create(model="mock/mock-1", tools=tools, messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ])
    assert final.choices[0].finish_reason == "stop"
    assert "sunny" in final.choices[0].message.content


# --- our errors arrive as the SDK's exception types ------------------------------------------


def test_gateway_auth_error(openai_gateway) -> None:
    import httpx

    response = httpx.post(f"{openai_gateway.url}/v1/chat/completions", json={"model": "openai/gpt-4o", "messages": []})
    assert response.status_code == 401


def test_unknown_provider_is_not_found(client) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="xyz/model", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["message"] == "Unknown provider: xyz"


def test_missing_prefix_is_bad_request(client) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["type"] == "invalid_request_error"


def test_provider_auth_failure(client) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="openai/error-401", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body == {"message": "Authentication failed", "type": "provider_error",
                                 "param": None, "code": "provider_auth_failed"}


def test_rate_limit(client) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="openai/error-429", messages=[{"role": "user", "content": "x"}])
    assert caught.value.response.headers["retry-after"] == "7"


def test_upstream_5xx_is_bad_gateway(client) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="openai/error-500", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502
