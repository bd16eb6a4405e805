"""POST /v1/completions with the official `openai` SDK: passed through to OpenAI, mapped onto chat
for an OpenAI-compatible provider without the endpoint, for the mock and for Anthropic."""

from __future__ import annotations

import openai
import pytest

from tests.integration.inbound_setup import GATEWAY_KEY, anthropic_fake, gateway, gemini_fake  # noqa: F401


@pytest.fixture(scope="module")
def client(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)


def test_passes_through_where_the_provider_has_it(client, openai_fake) -> None:
    result = client.completions.create(model="openai/gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=5, suffix="!")
    assert result.object == "text_completion"
    assert result.choices[0].text == "echo: Say hi"
    sent = openai_fake.requests[-1]
    assert sent.path == "/v1/completions"
    assert sent.json() == {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 5, "suffix": "!"}
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model="openai/gpt-3.5-turbo-instruct", prompt="Say hi", stream=True) if c.choices)
    assert streamed.strip() == "echo: Say hi"


def test_mapped_onto_chat_elsewhere(client, openai_fake) -> None:
    result = client.completions.create(model="groq/llama", prompt="Say hi", max_tokens=5, stop=["\n"])
    assert result.choices[0].text == "echo: Say hi" and result.choices[0].finish_reason == "stop"
    assert result.usage.total_tokens == 7
    sent = openai_fake.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.json()["messages"] == [{"role": "user", "content": "Say hi"}]
    assert sent.json()["max_tokens"] == 5 and sent.json()["stop"] == ["\n"]


@pytest.mark.parametrize("model", ["mock/mock-1", "groq/llama", "anthropic/claude-sonnet-4-5"])
def test_streamed_on_chat_providers(client, model) -> None:
    chunks = list(client.completions.create(model=model, prompt="Hello", max_tokens=100, stream=True,
                                            stream_options={"include_usage": True}))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert "Hello" in text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_several_prompts_and_echo(client) -> None:
    result = client.completions.create(model="mock/mock-1", prompt=["one", "two"], max_tokens=100, echo=True)
    assert [c.index for c in result.choices] == [0, 1]
    assert result.choices[0].text.startswith("one") and result.choices[1].text.endswith("You said: two")


def test_default_max_tokens_is_the_legacy_16(client) -> None:
    result = client.completions.create(model="mock/mock-1", prompt=" ".join(["w"] * 40))
    assert result.choices[0].finish_reason == "length"
    assert len(result.choices[0].text.split()) == 16
