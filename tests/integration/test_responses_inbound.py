"""POST /v1/responses (+ retrieve, delete, input_items) with the official `openai` SDK as the client:
translated through the chat shape (mock, an OpenAI-compatible provider, Anthropic) and passed through
to OpenAI itself."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.integration.inbound_setup import GATEWAY_KEY, anthropic_fake, gateway, gemini_fake  # noqa: F401

TOOL = {"type": "function", "name": "get_weather", "description": "Current weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}
EXPECTED = {
    "mock/mock-1": "This is a mock response from LLMG. You said: Hello",
    "groq/gpt-4o": "echo: Hello",
    "anthropic/claude-sonnet-4-5": "echo: Hello",
    "openai/gpt-4o": "echo: Hello",  # native: the fake's own /v1/responses
}
TRANSLATED = ["mock/mock-1", "groq/gpt-4o", "anthropic/claude-sonnet-4-5"]


@pytest.fixture(scope="module")
def client(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=GATEWAY_KEY, max_retries=0, timeout=10)


@pytest.mark.parametrize("model", list(EXPECTED))
def test_plain(client, model) -> None:
    response = client.responses.create(model=model, input="Hello")
    assert response.object == "response" and response.status == "completed"
    assert response.output_text.strip() == EXPECTED[model]
    assert response.usage.total_tokens > 0


@pytest.mark.parametrize("model", list(EXPECTED))
def test_streamed(client, model) -> None:
    events = list(client.responses.create(model=model, input="Hello", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text.strip() == EXPECTED[model]
    assert events[-1].response.output_text == events[-4].text


@pytest.mark.parametrize("model", ["groq/gpt-4o", "anthropic/claude-sonnet-4-5", "openai/gpt-4o"])
def test_two_turns_through_previous_response_id(client, model) -> None:
    first = client.responses.create(model=model, input="My name is Ada.")
    second = client.responses.create(model=model, input="What is my name?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    assert "What is my name?" in second.output_text


def test_translated_conversation_reaches_the_provider_whole(client, anthropic_fake) -> None:
    first = client.responses.create(model="anthropic/claude-sonnet-4-5", input="My name is Ada.", instructions="Be brief.")
    client.responses.create(model="anthropic/claude-sonnet-4-5", input="And yours?", previous_response_id=first.id,
                            instructions="Be kind.")
    body = anthropic_fake.requests[-1].json()
    assert body["system"] in ("Be kind.", [{"type": "text", "text": "Be kind."}])  # instructions are not carried over
    texts = [m["content"] if isinstance(m["content"], str) else m["content"][0]["text"] for m in body["messages"]]
    assert texts == ["My name is Ada.", "echo: My name is Ada.", "And yours?"]


def test_native_openai_gets_the_body_as_sent(client, openai_fake) -> None:
    client.responses.create(model="openai/gpt-4o", input="Hi", reasoning={"effort": "low"}, store=False,
                            extra_body={"some_future_field": 1})
    sent = openai_fake.requests[-1]
    assert sent.path == "/v1/responses"
    assert sent.json() == {"model": "gpt-4o", "input": "Hi", "reasoning": {"effort": "low"}, "store": False, "some_future_field": 1}


@pytest.mark.parametrize("model", ["mock/mock-1", "anthropic/claude-sonnet-4-5"])
def test_function_tools_round_trip(client, model) -> None:
    first = client.responses.create(model=model, input="Weather in Paris?", tools=[TOOL])
    calls = [item for item in first.output if item.type == "function_call"]
    assert calls and calls[0].name == "get_weather" and calls[0].call_id
    final = client.responses.create(model=model, tools=[TOOL], previous_response_id=first.id, input=[
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny, 21C"}])
    assert "sunny, 21C" in final.output_text


def test_streamed_function_call(client) -> None:
    events = list(client.responses.create(model="anthropic/claude-sonnet-4-5", input="Weather?", tools=[TOOL], stream=True))
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert '"location"' in done.arguments
    item = events[-1].response.output[-1]
    assert item.type == "function_call" and item.arguments == done.arguments


def test_options_reach_an_openai_compatible_provider(client, openai_fake) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": False}
    client.responses.create(
        model="groq/gpt-4o", instructions="Answer in JSON.", max_output_tokens=50, temperature=0.2,
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}},
        reasoning={"effort": "high"}, tools=[TOOL], tool_choice={"type": "function", "name": "get_weather"},
        input=[{"role": "user", "content": [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
        ]}],
    )
    body = openai_fake.requests[-1].json()
    assert openai_fake.requests[-1].path == "/v1/chat/completions"
    assert body["messages"][0] == {"role": "system", "content": "Answer in JSON."}
    assert body["messages"][1]["content"][1] == {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}
    assert body["reasoning_effort"] == "high" and body["max_tokens"] == 50 and body["temperature"] == 0.2
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["tools"][0]["function"]["name"] == "get_weather"


def test_retrieve_input_items_and_delete(client) -> None:
    created = client.responses.create(model="mock/mock-1", input=[{"role": "user", "content": "first"},
                                                                  {"role": "user", "content": "second"}])
    again = client.responses.retrieve(created.id)
    assert again.id == created.id and again.output_text == created.output_text
    items = client.responses.input_items.list(created.id, order="asc")
    assert [i.content[0].text for i in items.data] == ["first", "second"]
    newest = client.responses.input_items.list(created.id, limit=1)
    assert [i.content[0].text for i in newest.data] == ["second"] and newest.has_more
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_store_false_is_not_kept(client) -> None:
    response = client.responses.create(model="mock/mock-1", input="x", store=False)
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_unknown_previous_response_is_not_found(client) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="mock/mock-1", input="x", previous_response_id="resp_nope")
    assert caught.value.body["param"] == "previous_response_id"


def test_error_mid_stream_is_an_error_event(gateway) -> None:
    body = {"model": "groq/stream-fail", "input": "x", "stream": True}
    with httpx.stream("POST", f"{gateway.url}/v1/responses", json=body, headers=gateway.auth, timeout=10) as r:
        text = r.read().decode()
    assert text.startswith("event: response.created")
    assert "event: error" in text and "response.completed" not in text
