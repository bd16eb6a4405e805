"""Cohere v2: golden translation tests from Cohere's documentation, and the gateway end to end
through the official ``openai`` SDK against a fake Cohere that speaks the real wire format."""

from __future__ import annotations

import json

import openai
import pytest

from llmg.errors import GatewayError
from llmg.providers import cohere
from tests.fakes import cohere_upstream

KEY = "co-fake-key"

# --- golden translation tests (examples from docs.cohere.com) -----------------------------------

# https://docs.cohere.com/docs/tool-use-overview: the tool-use round trip, written the OpenAI way.
OPENAI_TOOL_HISTORY = {
    "model": "cohere/command-a-03-2025",
    "messages": [
        {"role": "developer", "content": "You are a weather assistant."},
        {"role": "user", "content": "What's the weather in Toronto?"},
        {"role": "assistant", "content": "I will search for the weather in Toronto.", "tool_calls": [
            {"id": "get_weather_1byjy32y4hvq", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'}}]},
        {"role": "tool", "tool_call_id": "get_weather_1byjy32y4hvq", "content": '[{"temperature": 20}]'},
    ],
    "tools": [{"type": "function", "function": {
        "name": "get_weather", "description": "gets the weather of a given location",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}],
    "temperature": 0.3, "top_p": 0.75, "max_completion_tokens": 200, "stop": "END", "seed": 7,
}

COHERE_TOOL_HISTORY = {
    "model": "command-a-03-2025",
    "messages": [
        {"role": "system", "content": "You are a weather assistant."},
        {"role": "user", "content": "What's the weather in Toronto?"},
        {"role": "assistant", "tool_calls": [
            {"id": "get_weather_1byjy32y4hvq", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'}}],
         "tool_plan": "I will search for the weather in Toronto."},
        {"role": "tool", "tool_call_id": "get_weather_1byjy32y4hvq", "content": '[{"temperature": 20}]'},
    ],
    "tools": [{"type": "function", "function": {
        "name": "get_weather", "description": "gets the weather of a given location",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}],
    "max_tokens": 200, "stop_sequences": ["END"], "temperature": 0.3, "seed": 7, "p": 0.75,
}


def test_request_golden_tool_history():
    assert cohere.chat_request(OPENAI_TOOL_HISTORY, "command-a-03-2025") == COHERE_TOOL_HISTORY


def test_request_tool_choice_and_response_format():
    base = {"messages": [{"role": "user", "content": "hi"}], "tools": OPENAI_TOOL_HISTORY["tools"]}
    assert cohere.chat_request({**base, "tool_choice": "required"}, "m")["tool_choice"] == "REQUIRED"
    assert cohere.chat_request({**base, "tool_choice": "none"}, "m")["tool_choice"] == "NONE"
    assert "tool_choice" not in cohere.chat_request({**base, "tool_choice": "auto"}, "m")
    named = cohere.chat_request({**base, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}, "m")
    assert named["tool_choice"] == "REQUIRED" and [t["function"]["name"] for t in named["tools"]] == ["get_weather"]
    with pytest.raises(GatewayError) as info:
        cohere.chat_request({**base, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "m")
    assert info.value.status == 400
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    body = cohere.chat_request({**base, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}, "m")
    assert body["response_format"] == {"type": "json_object", "json_schema": schema}
    assert cohere.chat_request({**base, "response_format": {"type": "json_object"}}, "m")["response_format"] == {"type": "json_object"}


def test_request_images_and_unsupported_roles():
    image = {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                         {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}]}
    assert cohere.chat_request({"messages": [image]}, "m")["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
    ]
    with pytest.raises(GatewayError) as info:
        cohere.chat_request({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "m")
    assert info.value.status == 400 and "function" in info.value.message


# https://docs.cohere.com/reference/chat: the documented response shapes.
def test_response_golden_text():
    body = {
        "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "LLMs stand for Large Language Models."}]},
        "usage": {"billed_units": {"input_tokens": 17, "output_tokens": 12}, "tokens": {"input_tokens": 215, "output_tokens": 12}},
    }
    assert cohere.chat_response(body, "command-a-03-2025", created=1) == {
        "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
        "object": "chat.completion",
        "created": 1,
        "model": "command-a-03-2025",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "LLMs stand for Large Language Models.", "refusal": None},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 215, "completion_tokens": 12, "total_tokens": 227},
    }


def test_response_golden_tool_calls():
    body = {
        "id": "7e4b5bd6-4e6e-4d3c-bdd4-1f9a6a1d1d1d",
        "finish_reason": "TOOL_CALL",
        "message": {"role": "assistant", "tool_plan": "I will search for the weather in Toronto.",
                    "tool_calls": [{"id": "get_weather_1byjy32y4hvq", "type": "function",
                                    "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'}}]},
        "usage": {"billed_units": {"input_tokens": 37, "output_tokens": 28}},
    }
    out = cohere.chat_response(body, "m", created=1)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "I will search for the weather in Toronto."
    assert choice["message"]["tool_calls"] == [{"id": "get_weather_1byjy32y4hvq", "type": "function",
                                                "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'}}]
    assert out["usage"] == {"prompt_tokens": 37, "completion_tokens": 28, "total_tokens": 65}


@pytest.mark.parametrize("reason,ours", [("COMPLETE", "stop"), ("STOP_SEQUENCE", "stop"), ("MAX_TOKENS", "length"), ("TOOL_CALL", "tool_calls")])
def test_finish_reasons(reason, ours):
    body = {"id": "x", "finish_reason": reason, "message": {"role": "assistant", "content": [{"type": "text", "text": "a"}]}}
    assert cohere.chat_response(body, "m")["choices"][0]["finish_reason"] == ours


@pytest.mark.parametrize("reason", ["ERROR", "TIMEOUT"])
def test_failed_generation_is_an_error(reason):
    with pytest.raises(GatewayError) as info:
        cohere.chat_response({"id": "x", "finish_reason": reason, "message": {}}, "m")
    assert info.value.status == 502


def _sse_data(chunks: list[bytes]) -> list[dict]:
    return [json.loads(c[len(b"data: "):]) for c in chunks]


def test_stream_golden_parallel_tool_calls():
    """The tool-calling stream from docs.cohere.com/docs/tool-use-streaming (two parallel calls)."""
    args_madrid = ['{\n    "', "location", '":', ' "', "Madrid", '"', "\n", "}"]
    args_brasilia = ['{\n    "', "location", '":', ' "', "Bras", "ilia", '"', "\n", "}"]
    events = [("message-start", {"id": "fba98ad3", "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}})]
    events += [("tool-plan-delta", {"delta": {"message": {"tool_plan": w}}}) for w in ["I", " will", " search"]]
    for index, (ident, args) in enumerate([("get_weather_p1t92w7gfgq7", args_madrid), ("get_weather_ay6nmvjgp9vn", args_brasilia)]):
        events.append(("tool-call-start", {"index": index, "delta": {"message": {"tool_calls": {"id": ident, "type": "function", "function": {"name": "get_weather", "arguments": ""}}}}}))
        events += [("tool-call-delta", {"index": index, "delta": {"message": {"tool_calls": {"function": {"arguments": a}}}}}) for a in args]
        events.append(("tool-call-end", {"index": index}))
    events.append(("message-end", {"id": None, "delta": {"finish_reason": "TOOL_CALL", "usage": {
        "billed_units": {"input_tokens": 37.0, "output_tokens": 28.0}, "tokens": {"input_tokens": 913.0, "output_tokens": 83.0}}}}))

    translator = cohere.StreamTranslator("command-a-03-2025", include_usage=True, created=1)
    out = _sse_data([b for kind, ev in events for b in translator.feed({"type": kind, **ev})] + translator.close())

    assert out[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert {c["id"] for c in out} == {"fba98ad3"}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in out if c["choices"])
    assert text == "I will search"
    calls: dict[int, dict] = {}
    for c in out:
        for d in (c["choices"][0]["delta"].get("tool_calls") or []) if c["choices"] else []:
            entry = calls.setdefault(d["index"], {"id": None, "name": "", "arguments": ""})
            entry["id"] = d.get("id") or entry["id"]
            entry["name"] += (d.get("function") or {}).get("name", "")
            entry["arguments"] += (d.get("function") or {}).get("arguments", "")
    assert calls == {
        0: {"id": "get_weather_p1t92w7gfgq7", "name": "get_weather", "arguments": "".join(args_madrid)},
        1: {"id": "get_weather_ay6nmvjgp9vn", "name": "get_weather", "arguments": "".join(args_brasilia)},
    }
    finishes = [c["choices"][0]["finish_reason"] for c in out if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finishes == ["tool_calls"]
    assert out[-1]["choices"] == [] and out[-1]["usage"] == {"prompt_tokens": 913, "completion_tokens": 83, "total_tokens": 996}


def test_stream_message_end_error_raises():
    translator = cohere.StreamTranslator("m")
    translator.feed({"type": "message-start", "id": "x"})
    with pytest.raises(GatewayError) as info:
        translator.feed({"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "boom"}})
    assert "boom" in info.value.message


def test_embed_golden():
    assert cohere.embed_request({"input": ["hello", "goodbye"]}, "embed-v4.0", "search_document") == {
        "model": "embed-v4.0", "texts": ["hello", "goodbye"], "input_type": "search_document", "embedding_types": ["float"]}
    assert cohere.embed_request({"input": "q", "input_type": "search_query", "dimensions": 256}, "e", "search_document")["input_type"] == "search_query"
    with pytest.raises(GatewayError):
        cohere.embed_request({"input": [1, 2, 3]}, "e", "search_document")
    body = {"id": "da6e531f", "texts": ["hello"], "embeddings": {"float": [[0.016296387, -0.008354187]]},
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 1}}, "response_type": "embeddings_by_type"}
    assert cohere.embed_response(body, "embed-v4.0") == {
        "object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.016296387, -0.008354187]}],
        "model": "embed-v4.0", "usage": {"prompt_tokens": 1, "total_tokens": 1}}


def test_error_message():
    assert cohere.error_message(b'{"id":"a","message":"invalid api token"}') == "invalid api token"
    assert cohere.error_message(b"upstream exploded") == "upstream exploded"


# --- end to end through the openai SDK ----------------------------------------------------------


@pytest.fixture(scope="module")
def cohere_fake():
    server = cohere_upstream.start(KEY)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(cohere_fake):
    from tests.gateway import GatewayProcess

    gw = GatewayProcess(f"""
[providers.cohere]
api_key = "{KEY}"
base_url = "{cohere_fake.url}"
timeout = 5
""").start()
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def client(gateway):
    return openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0)


TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                           "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}]


def test_plain_answer(client, cohere_fake):
    cohere_fake.clear()
    r = client.chat.completions.create(model="cohere/command-a-03-2025",
                                       messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}],
                                       temperature=0.2, top_p=0.5, stop=["\n\n"])
    assert r.choices[0].message.content == "echo: hello there"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens == 215 and r.usage.completion_tokens == 12
    sent = cohere_fake.requests[-1]
    assert sent.path == "/v2/chat" and sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json() == {"model": "command-a-03-2025", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}],
                           "stop_sequences": ["\n\n"], "temperature": 0.2, "p": 0.5}


def test_max_tokens_gives_length(client):
    r = client.chat.completions.create(model="cohere/command-a-03-2025", messages=[{"role": "user", "content": "one two three four"}], max_tokens=2)
    assert r.choices[0].finish_reason == "length" and r.choices[0].message.content == "echo: one"


def test_streamed_answer(client):
    stream = client.chat.completions.create(model="cohere/command-a-03-2025", messages=[{"role": "user", "content": "stream me please"}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: stream me please"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage.total_tokens == 227


def _round_trip(client, stream: bool):
    messages = [{"role": "user", "content": "What's the weather in Madrid?"}]
    if stream:
        chunks = list(client.chat.completions.create(model="cohere/command-a-03-2025", messages=messages, tools=TOOLS, stream=True))
        calls: dict[int, dict] = {}
        plan = ""
        for c in chunks:
            delta = c.choices[0].delta
            plan += delta.content or ""
            for d in delta.tool_calls or []:
                entry = calls.setdefault(d.index, {"id": None, "name": "", "arguments": ""})
                entry["id"] = d.id or entry["id"]
                if d.function:
                    entry["name"] += d.function.name or ""
                    entry["arguments"] += d.function.arguments or ""
        assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["tool_calls"]
        assert list(calls) == [0]
        call = calls[0]
        call_id, name, arguments = call["id"], call["name"], call["arguments"]
    else:
        r = client.chat.completions.create(model="cohere/command-a-03-2025", messages=messages, tools=TOOLS)
        assert r.choices[0].finish_reason == "tool_calls"
        plan = r.choices[0].message.content
        tc = r.choices[0].message.tool_calls[0]
        call_id, name, arguments = tc.id, tc.function.name, tc.function.arguments
    assert plan == cohere_upstream.TOOL_PLAN
    assert call_id == cohere_upstream.TOOL_CALL_ID and name == "get_weather"
    assert arguments == cohere_upstream.TOOL_ARGUMENTS  # byte for byte what the fake sent
    messages += [
        {"role": "assistant", "content": plan, "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": call_id, "content": "24C and sunny"},
    ]
    if stream:
        chunks = list(client.chat.completions.create(model="cohere/command-a-03-2025", messages=messages, tools=TOOLS, stream=True))
        final = "".join(c.choices[0].delta.content or "" for c in chunks)
    else:
        final = client.chat.completions.create(model="cohere/command-a-03-2025", messages=messages, tools=TOOLS).choices[0].message.content
    assert final == "The tool said: 24C and sunny"


def test_tool_round_trip(client, cohere_fake):
    _round_trip(client, stream=False)
    sent = cohere_fake.requests[-1].json()
    assert sent["messages"][1] == {"role": "assistant", "tool_plan": cohere_upstream.TOOL_PLAN, "tool_calls": [
        {"id": cohere_upstream.TOOL_CALL_ID, "type": "function", "function": {"name": "get_weather", "arguments": cohere_upstream.TOOL_ARGUMENTS}}]}
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": cohere_upstream.TOOL_CALL_ID, "content": "24C and sunny"}


def test_tool_round_trip_streamed(client):
    _round_trip(client, stream=True)


def test_embeddings(client, cohere_fake):
    r = client.embeddings.create(model="cohere/embed-v4.0", input=["hello", "goodbye world"])
    assert [d.index for d in r.data] == [0, 1] and len(r.data[0].embedding) == 4
    assert r.usage.prompt_tokens == 3
    sent = cohere_fake.requests[-1]
    assert sent.path == "/v2/embed"
    assert sent.json() == {"model": "embed-v4.0", "texts": ["hello", "goodbye world"], "input_type": "search_document", "embedding_types": ["float"]}


def test_upstream_error_keeps_status_and_message(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="cohere/error-400", messages=[{"role": "user", "content": "x"}])
    assert "fake cohere error 400" in info.value.body["message"]
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="cohere/error-500", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502


def test_upstream_validation_error_surfaces(client):
    """A value Cohere rejects (p must be in 0.01..0.99) comes back as Cohere's own message."""
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="cohere/command-a-03-2025", messages=[{"role": "user", "content": "x"}], top_p=1.0)
    assert "p must be between" in info.value.body["message"]


def test_wrong_key_is_provider_auth_error(gateway, cohere_fake):
    from tests.gateway import GatewayProcess

    gw = GatewayProcess(f"""
[providers.cohere]
api_key = "co-wrong-key"
base_url = "{cohere_fake.url}"
""").start()
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token, max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            client.chat.completions.create(model="cohere/command-a-03-2025", messages=[{"role": "user", "content": "x"}])
        assert info.value.body["type"] == "provider_error"
        assert "co-wrong-key" not in json.dumps(info.value.body) and "co-wrong-key" not in gw.output()
    finally:
        gw.stop()


def test_stream_failure_after_start_is_an_error_event(client):
    with pytest.raises(openai.APIError) as info:
        list(client.chat.completions.create(model="cohere/stream-error", messages=[{"role": "user", "content": "a b"}], stream=True))
    assert "internal generation failure" in str(info.value)


def test_function_role_is_rejected_before_upstream(client, cohere_fake):
    cohere_fake.clear()
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="cohere/command-a-03-2025",
                                       messages=[{"role": "user", "content": "x"}, {"role": "function", "name": "f", "content": "y"}])
    assert cohere_fake.requests == []


def test_image_input(client, cohere_fake):
    image = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    r = client.chat.completions.create(model="cohere/command-a-vision-07-2025", messages=[{"role": "user", "content": [
        {"type": "text", "text": "describe"}, {"type": "image_url", "image_url": {"url": image, "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}])
    assert r.choices[0].message.content == "echo: describe"
    assert cohere_fake.requests[-1].json()["messages"][0]["content"] == [
        {"type": "text", "text": "describe"},
        {"type": "image_url", "image_url": {"url": image, "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]


def test_connection_dropped_mid_stream_is_an_error_event(client):
    chunks = []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(model="cohere/cut-stream", messages=[{"role": "user", "content": "one two three"}], stream=True):
            chunks.append(chunk)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo:"  # what arrived before the cut


# --- penalties and logprobs ------------------------------------------------------------------


@pytest.mark.parametrize("key", ["frequency_penalty", "presence_penalty"])
def test_penalties_cohere_cannot_express_are_a_clear_400(client, cohere_fake, key):
    cohere_fake.clear()
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="cohere/command-a-03-2025", messages=[{"role": "user", "content": "x"}], **{key: -1.5})
    assert err.value.body["param"] == key
    assert not cohere_fake.requests
    r = client.chat.completions.create(model="cohere/command-a-03-2025", messages=[{"role": "user", "content": "x"}], **{key: 0.5})
    assert r.choices[0].message.content and cohere_fake.requests[-1].json()[key] == 0.5


def test_logprobs_asked_for_are_returned(client):
    r = client.chat.completions.create(model="cohere/command-a-03-2025", logprobs=True,
                                       messages=[{"role": "user", "content": "hello there"}])
    tokens = r.choices[0].logprobs.content
    assert "".join(t.token for t in tokens) == r.choices[0].message.content
    assert all(t.logprob < 0 and t.bytes == list(t.token.encode()) for t in tokens)
    chunks = list(client.chat.completions.create(model="cohere/command-a-03-2025", logprobs=True, stream=True,
                                                  messages=[{"role": "user", "content": "hello there"}]))
    streamed = [t for c in chunks if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.content]
    assert "".join(t.token for t in streamed) == "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# --- a tool call without arguments ends as "{}" -------------------------------------------------

NO_PARAMETERS = [{"type": "function", "function": {"name": "get_time", "description": "The current time"}}]


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_without_arguments_is_an_empty_object(client, stream):
    messages = [{"role": "user", "content": "What time is it?"}]
    if stream:
        chunks = list(client.chat.completions.create(model="cohere/command-a-03-2025", messages=messages, tools=NO_PARAMETERS, stream=True))
        arguments = "".join(d.function.arguments or "" for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []
                            if d.function)
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert finishes == ["tool_calls"]
    else:
        r = client.chat.completions.create(model="cohere/command-a-03-2025", messages=messages, tools=NO_PARAMETERS)
        arguments = r.choices[0].message.tool_calls[0].function.arguments
    assert arguments == "{}"
    assert json.loads(arguments) == {}


def test_prompt_over_the_context_is_openais_context_length_exceeded(client):
    """langchain raises its context-overflow error on this code; the message stays Cohere's."""
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="cohere/error-context", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "context_length_exceeded"
    assert info.value.body["message"].startswith("too many tokens")
