"""Google Gemini API: the translator end to end (openai SDK -> real gateway -> fake Gemini API),
plus golden translation tests built from Google's documentation examples."""

from __future__ import annotations

import base64
import json
import struct
import time
from pathlib import Path

import httpx
import openai
import pytest

from llmg.providers import gemini_map as gm
from llmg.providers.gemini_wire import decode_response
from tests.fakes import gemini_upstream
from tests.fakes.gemini_upstream import SIGNATURE, TOOL_ARGS

KEY = "fake-gemini-key"
GOLDEN = Path(__file__).parent / "golden" / "gemini"
# What the fake sent as functionCall.args, as compact JSON: the exact string clients must see.
ARGS_JSON = json.dumps(TOOL_ARGS, separators=(",", ":"), ensure_ascii=False)
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 24).decode()

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "city": {"type": "string"},
                "days": {"type": ["integer", "null"]},
                "units": {"type": "array", "items": {"$ref": "#/$defs/unit"}},
                "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            },
            "required": ["city"],
            "$defs": {"unit": {"type": "string", "enum": ["celsius", "kelvin"]}},
        },
    },
}


@pytest.fixture(scope="module")
def fake():
    server = gemini_upstream.start(KEY)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(fake):
    from tests.gateway import GatewayProcess

    gw = GatewayProcess(f"""
[providers.gemini]
api_key = "{KEY}"
base_url = "{fake.url}/v1beta"
timeout = 5
""").start()
    yield gw
    gw.stop()


@pytest.fixture
def client(gateway):
    return openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0)


def last_body(fake) -> dict:
    return fake.requests[-1].json()


# --- plain and streamed answers -----------------------------------------------------------------


def test_plain_answer(client, fake):
    fake.clear()
    r = client.chat.completions.create(
        model="gemini/gemini-2.5-flash",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}],
        temperature=0.2, top_p=0.9, max_completion_tokens=50, stop=["END"], n=1,
    )
    assert r.choices[0].message.content == "echo: hello there"
    assert r.choices[0].finish_reason == "stop"
    assert r.model == "gemini-2.5-flash-001"  # the modelVersion Google reported
    assert r.id == "chatcmpl-fakeResp123"
    assert r.usage.prompt_tokens > 0 and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    sent = fake.requests[-1]
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == KEY
    assert "authorization" not in sent.headers
    body = sent.json()
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hello there"}]}]
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["generationConfig"] == {"stopSequences": ["END"], "candidateCount": 1, "maxOutputTokens": 50,
                                        "temperature": 0.2, "topP": 0.9}


def test_multi_turn_history_uses_model_role(client, fake):
    r = client.chat.completions.create(
        model="gemini/gemini-2.5-flash",
        messages=[{"role": "user", "content": "one"}, {"role": "assistant", "content": "ok"},
                  {"role": "developer", "content": "Dev rule."}, {"role": "user", "content": "two"}],
    )
    assert r.choices[0].message.content == "echo: two"
    body = last_body(fake)
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["systemInstruction"]["parts"] == [{"text": "Dev rule."}]


def test_streamed_answer(client, fake):
    fake.clear()
    stream = client.chat.completions.create(
        model="gemini/gemini-2.5-flash",
        messages=[{"role": "user", "content": "tell me a long story please"}],
        stream=True, stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert fake.requests[-1].path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert fake.requests[-1].query == {"alt": "sse"}
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: tell me a long story please"
    assert len({c.id for c in chunks}) == 1
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_stream_ends_with_done(gateway, fake):
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers=gateway.auth, json={
        "model": "gemini/gemini-2.5-flash", "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as r:
        raw = b"".join(r.iter_bytes())
    assert r.status_code == 200
    assert raw.endswith(b"data: [DONE]\n\n") and raw.count(b"[DONE]") == 1


# --- tools --------------------------------------------------------------------------------------


def test_tool_call_round_trip(client, fake):
    fake.clear()
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model="gemini/gemini-2.5-flash", messages=messages,
                                           tools=[WEATHER_TOOL], tool_choice="auto")
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert call.function.arguments == ARGS_JSON
    assert call.id.startswith("call_0_")
    sent = last_body(fake)
    params = sent["tools"][0]["functionDeclarations"][0]["parameters"]
    assert "additionalProperties" not in params and "$schema" not in params
    assert params["properties"]["days"] == {"type": "integer", "nullable": True}
    assert params["properties"]["units"]["items"] == {"type": "string", "enum": ["celsius", "kelvin"]}
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}

    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21, "sky": "clear"}'}]
    final = client.chat.completions.create(model="gemini/gemini-2.5-flash", messages=messages, tools=[WEATHER_TOOL])
    assert final.choices[0].message.content == 'The tool said: {"sky": "clear", "temp_c": 21}'
    assert final.choices[0].finish_reason == "stop"
    history = last_body(fake)["contents"]
    assert history[1] == {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": TOOL_ARGS},
                                                      "thoughtSignature": SIGNATURE}]}
    assert history[2] == {"role": "user", "parts": [{"functionResponse": {
        "name": "get_weather", "response": {"temp_c": 21, "sky": "clear"}}}]}


def _collect_tool_calls(chunks) -> dict[int, dict]:
    calls: dict[int, dict] = {}
    for chunk in chunks:
        for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
            if tc.id:
                assert slot["id"] in (None, tc.id)
                slot["id"] = tc.id
            if tc.function and tc.function.name:
                slot["name"] += tc.function.name
            if tc.function and tc.function.arguments:
                slot["arguments"] += tc.function.arguments
    return calls


def test_tool_call_round_trip_streamed(client, fake):
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    chunks = list(client.chat.completions.create(model="gemini/gemini-2.5-flash", messages=messages,
                                                 tools=[WEATHER_TOOL], stream=True))
    calls = _collect_tool_calls(chunks)
    assert list(calls) == [0]
    assert calls[0]["name"] == "get_weather"
    assert calls[0]["arguments"] == ARGS_JSON  # concatenated deltas == exactly what the fake sent
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]

    messages += [{"role": "assistant", "content": None, "tool_calls": [
        {"id": calls[0]["id"], "type": "function", "function": {"name": "get_weather", "arguments": calls[0]["arguments"]}}]},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"}]
    final = list(client.chat.completions.create(model="gemini/gemini-2.5-flash", messages=messages,
                                                tools=[WEATHER_TOOL], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in final if c.choices)
    assert text == 'The tool said: {"output": "sunny"}'
    assert last_body(fake)["contents"][1]["parts"][0]["thoughtSignature"] == SIGNATURE


def test_parallel_tool_calls_streamed_keep_indexes(client, fake):
    other = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}
    chunks = list(client.chat.completions.create(model="gemini/parallel", messages=[{"role": "user", "content": "both"}],
                                                 tools=[WEATHER_TOOL, other], stream=True))
    calls = _collect_tool_calls(chunks)
    assert [calls[i]["name"] for i in (0, 1)] == ["get_weather", "get_time"]
    assert json.loads(calls[1]["arguments"]) == dict(TOOL_ARGS, call=1)
    assert calls[0]["id"] != calls[1]["id"]
    # Both results go back in one user turn, as Gemini requires.
    messages = [{"role": "user", "content": "both"},
                {"role": "assistant", "tool_calls": [{"id": c["id"], "type": "function",
                                                      "function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls.values()]},
                {"role": "tool", "tool_call_id": calls[0]["id"], "content": "a"},
                {"role": "tool", "tool_call_id": calls[1]["id"], "content": "b"}]
    r = client.chat.completions.create(model="gemini/parallel", messages=messages, tools=[WEATHER_TOOL, other])
    assert r.choices[0].message.content == 'The tool said: {"output": "a"}; {"output": "b"}'
    assert len(last_body(fake)["contents"]) == 3


def test_tool_choice_named_and_none(client, fake):
    r = client.chat.completions.create(model="gemini/gemini-2.5-flash", messages=[{"role": "user", "content": "x"}],
                                       tools=[WEATHER_TOOL], tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert r.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert last_body(fake)["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
    r = client.chat.completions.create(model="gemini/gemini-2.5-flash", messages=[{"role": "user", "content": "x"}],
                                       tools=[WEATHER_TOOL], tool_choice="none")
    assert r.choices[0].message.content == "echo: x" and not r.choices[0].message.tool_calls
    assert last_body(fake)["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}


def test_tool_result_for_unknown_call_is_a_clear_400(client, fake):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="gemini/gemini-2.5-flash", messages=[
            {"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "call_nope", "content": "1"}])
    assert "call_nope" in err.value.message


# --- images, JSON mode, limits, reasoning, safety -----------------------------------------------


def test_image_input_base64_and_url(client, fake):
    r = client.chat.completions.create(model="gemini/gemini-2.5-flash", messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}])
    assert r.choices[0].message.content == "I see image/png (32 bytes)"
    assert last_body(fake)["contents"][0]["parts"][1] == {"inlineData": {"mimeType": "image/png", "data": PNG}}
    r = client.chat.completions.create(model="gemini/gemini-2.5-flash", messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp?x=1"}}]}])
    assert r.choices[0].message.content == "I see image/webp (https://example.com/cat.webp?x=1)"
    assert last_body(fake)["contents"][0]["parts"][0] == {
        "fileData": {"fileUri": "https://example.com/cat.webp?x=1", "mimeType": "image/webp"}}


def test_json_modes(client, fake):
    r = client.chat.completions.create(model="gemini/gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}],
                                       response_format={"type": "json_object"})
    assert json.loads(r.choices[0].message.content) == {"answer": "echo: hi"}
    assert last_body(fake)["generationConfig"] == {"responseMimeType": "application/json"}
    client.chat.completions.create(model="gemini/gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}],
                                   response_format={"type": "json_schema", "json_schema": {"name": "a", "strict": True, "schema": {
                                       "type": "object", "additionalProperties": False,
                                       "properties": {"answer": {"type": "string"}}, "required": ["answer"]}}})
    assert last_body(fake)["generationConfig"] == {"responseMimeType": "application/json", "responseSchema": {
        "type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}}


def test_max_tokens_gives_length(client):
    r = client.chat.completions.create(model="gemini/gemini-2.5-flash", max_tokens=2,
                                       messages=[{"role": "user", "content": "a b c d e"}])
    assert r.choices[0].finish_reason == "length"
    assert r.choices[0].message.content == "echo: a"


def test_reasoning_effort_gives_reasoning_content(client, fake):
    r = client.chat.completions.create(model="gemini/gemini-2.5-flash", reasoning_effort="low",
                                       messages=[{"role": "user", "content": "think"}])
    assert r.choices[0].message.content == "echo: think"
    assert r.choices[0].message.reasoning_content == "Let me think about this."
    assert r.usage.completion_tokens_details.reasoning_tokens == 7
    assert last_body(fake)["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 1024, "includeThoughts": True}
    chunks = list(client.chat.completions.create(model="gemini/gemini-2.5-flash", reasoning_effort="low", stream=True,
                                                 messages=[{"role": "user", "content": "think"}]))
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    assert reasoning == "Let me think about this."


def test_blocked_prompt_is_content_filter(client):
    r = client.chat.completions.create(model="gemini/blocked", messages=[{"role": "user", "content": "bad"}])
    assert r.choices[0].finish_reason == "content_filter" and r.choices[0].message.content is None
    chunks = list(client.chat.completions.create(model="gemini/blocked", stream=True, messages=[{"role": "user", "content": "bad"}]))
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["content_filter"]


def test_n_gives_several_choices(client):
    r = client.chat.completions.create(model="gemini/gemini-2.5-flash", n=2, messages=[{"role": "user", "content": "x"}])
    assert [c.index for c in r.choices] == [0, 1]


# --- embeddings and models ----------------------------------------------------------------------


def test_embeddings(client, fake):
    r = client.embeddings.create(model="gemini/gemini-embedding-001", input=["first text", "second"], dimensions=4)
    assert [d.index for d in r.data] == [0, 1]
    # The SDK asks for base64 (float32) by default and decodes it, hence approx.
    assert r.data[0].embedding == pytest.approx(gemini_upstream.vector("first text", 4), abs=1e-6)
    sent = fake.requests[-1]
    assert sent.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert sent.json() == {"requests": [
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "first text"}]}, "outputDimensionality": 4},
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "second"}]}, "outputDimensionality": 4}]}


def test_embeddings_base64(gateway):
    r = httpx.post(f"{gateway.url}/v1/embeddings", headers=gateway.auth, json={
        "model": "gemini/gemini-embedding-001", "input": "x", "encoding_format": "base64", "dimensions": 3})
    assert r.status_code == 200, r.text
    raw = base64.b64decode(r.json()["data"][0]["embedding"])
    assert list(struct.unpack("<3f", raw)) == pytest.approx(gemini_upstream.vector("x", 3), abs=1e-6)


def test_embeddings_reject_token_ids(gateway):
    r = httpx.post(f"{gateway.url}/v1/embeddings", headers=gateway.auth, json={"model": "gemini/gemini-embedding-001", "input": [1, 2]})
    assert r.status_code == 400 and "token ids" in r.json()["error"]["message"]


def test_models_listed_from_the_api(gateway):
    # The live-only id is in no catalogue: it shows only if the refresh really read Google's list.
    wanted = {"gemini/gemini-2.5-flash", "gemini/gemini-embedding-001", f"gemini/{gemini_upstream.LIVE_ONLY_MODEL}"}
    ids: set[str] = set()
    deadline = time.monotonic() + 20
    while not wanted <= ids and time.monotonic() < deadline:
        ids = {m["id"] for m in httpx.get(f"{gateway.url}/v1/models", headers=gateway.auth).json()["data"]}
        time.sleep(0.2)
    assert wanted <= ids


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status,expected,kind", [
    (401, 401, openai.AuthenticationError), (403, 401, openai.AuthenticationError),
    (429, 429, openai.RateLimitError), (500, 502, openai.APIStatusError), (503, 502, openai.APIStatusError),
    (400, 400, openai.BadRequestError), (404, 404, openai.NotFoundError),
])
def test_upstream_errors(client, status, expected, kind):
    with pytest.raises(kind) as err:
        client.chat.completions.create(model=f"gemini/error-{status}", messages=[{"role": "user", "content": "x"}])
    assert err.value.status_code == expected
    body = err.value.body
    if expected == 401:
        assert body["type"] == "provider_error" and body["message"] == "Authentication failed"
    if expected == 429:
        assert body["message"].startswith("Resource has been exhausted") and "RESOURCE_EXHAUSTED" in body["message"]
        assert body["code"] == "rate_limit_exceeded"  # Google's RESOURCE_EXHAUSTED is a rate limit, not a quota
    assert err.value.response.headers["x-llmg-provider"] == "gemini"


def test_too_long_prompt_is_context_length_exceeded(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="gemini/error-context", messages=[{"role": "user", "content": "x"}])
    assert err.value.body["code"] == "context_length_exceeded" and err.value.body["param"] == "messages"
    assert err.value.body["message"].startswith(gemini_upstream.CONTEXT_MESSAGE)


def test_upstream_error_on_stream_before_first_byte(client):
    with pytest.raises(openai.RateLimitError):
        list(client.chat.completions.create(model="gemini/error-429", stream=True, messages=[{"role": "user", "content": "x"}]))


def test_wrong_api_key_is_an_auth_failure(start_gateway, fake):
    gw = start_gateway(f"""
[providers.gemini]
api_key = "wrong-key-123456"
base_url = "{fake.url}/v1beta"
""")
    c = openai.OpenAI(base_url=gw.base_url, api_key=gw.token, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        c.chat.completions.create(model="gemini/gemini-2.5-flash", messages=[{"role": "user", "content": "x"}])
    assert err.value.body["type"] == "provider_error"
    assert "wrong-key" not in json.dumps(err.value.body)


def test_fake_validates_like_the_real_api(fake):
    """The fake rejects what Google rejects, so a translator that sends it gets caught."""
    url = f"{fake.url}/v1beta/models/gemini-2.5-flash:generateContent"
    ok = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    assert httpx.post(url, json=ok, headers={"x-goog-api-key": KEY}).status_code == 200
    r = httpx.post(url, json={"contents": [{"role": "assistant", "parts": [{"text": "hi"}]}]}, headers={"x-goog-api-key": KEY})
    assert r.status_code == 400 and r.json()["error"]["message"] == "Please use a valid role: user, model."
    assert httpx.post(url, json=ok).status_code == 403
    r = httpx.post(url, json=ok, headers={"x-goog-api-key": "nope"})
    assert r.status_code == 400 and r.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    bad_schema = dict(ok, tools=[{"functionDeclarations": [{"name": "f", "parameters": {
        "type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}}]}])
    r = httpx.post(url, json=bad_schema, headers={"x-goog-api-key": KEY})
    assert r.status_code == 400 and 'Unknown name "additionalProperties"' in r.json()["error"]["message"]
    assert httpx.post(f"{fake.url}/v1beta/gemini-2.5-flash:generateContent", json=ok, headers={"x-goog-api-key": KEY}).status_code == 404


# --- golden translations (Google's documentation examples) ---------------------------------------


def _golden(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text())


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("request_*.json")))
def test_golden_requests(name):
    case = _golden(name)
    assert gm.to_request(case["openai"], case["model"]) == case["gemini"]


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("response_*.json")))
def test_golden_responses(name):
    case = _golden(name)
    response = decode_response(json.dumps(case["gemini"]))
    assert gm.to_completion(response, case["model"], created=case["created"]) == case["openai"]


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("stream_*.json")))
def test_golden_streams(name):
    case = _golden(name)
    translator = gm.StreamTranslator(case["model"], include_usage=True, created=case["created"])
    out = [e for event in case["gemini"] for e in translator.feed(decode_response(json.dumps(event)))] + translator.close()
    assert b"[DONE]" not in b"".join(out)  # translate.run adds it, once, for every translator
    # Every chunk is a schemas.openai ChatCompletionChunk, which (as OpenAI does when usage is
    # asked for) carries "usage": null until the usage chunk.
    expected = [{"usage": None, **chunk} for chunk in case["openai"]]
    assert [json.loads(e[len(b"data: "):]) for e in out] == expected


def test_golden_embeddings():
    case = _golden("embeddings_batch.json")
    assert gm.to_embed_request(case["openai_request"], case["model"]) == case["gemini_request"]
    assert gm.to_embeddings(case["gemini_response"], case["openai_request"], case["model"]) == case["openai_response"]


def test_error_message_keeps_google_status():
    body = b'{"error": {"code": 400, "message": "Please use a valid role: user, model.", "status": "INVALID_ARGUMENT"}}'
    assert gm.error_message(body) == "Please use a valid role: user, model. (INVALID_ARGUMENT)"


def test_schema_conversion_edge_cases():
    schema = {"type": "object", "properties": {
        "kind": {"const": "fixed"},
        "level": {"type": "integer", "enum": [1, 2]},
        "free": {"type": "object"},
        "either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        "both": {"allOf": [{"type": "string"}, {"description": "d"}]},
    }}
    out = gm.to_gemini_schema(schema)
    assert out["properties"]["kind"] == {"enum": ["fixed"], "type": "string"}
    assert out["properties"]["level"] == {"type": "integer", "enum": ["1", "2"], "format": "enum"}
    assert out["properties"]["free"] == {}
    assert out["properties"]["either"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert out["properties"]["both"] == {"type": "string", "description": "d"}
    with pytest.raises(Exception, match="recursive"):
        gm.to_gemini_schema({"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/a"}}})


def test_error_event_mid_stream(gateway):
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers=gateway.auth, json={
        "model": "gemini/stream-error", "stream": True,
        "messages": [{"role": "user", "content": "one two three four five six"}]}) as r:
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert r.status_code == 200
    assert events[-1] == "[DONE]"
    error = json.loads(events[-2])["error"]
    assert error["type"] == "provider_error" and "Internal error encountered. (INTERNAL)" in error["message"]
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-2])
    assert text == "echo: one two three "  # what arrived before the failure was relayed


def test_unsupported_content_part_is_a_clear_400(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="gemini/gemini-2.5-flash", messages=[{"role": "user", "content": [
            {"type": "video_url", "video_url": {"url": "https://x/y.mp4"}}]}])
    assert "'video_url' is not supported by Gemini" in err.value.message


def test_logprobs(client, fake):
    r = client.chat.completions.create(model="gemini/gemini-2.5-flash", logprobs=True, top_logprobs=2,
                                       messages=[{"role": "user", "content": "a b"}])
    assert last_body(fake)["generationConfig"] == {"responseLogprobs": True, "logprobs": 2}
    content = r.choices[0].logprobs.content
    assert "".join(t.token for t in content) == r.choices[0].message.content == "echo: a b"
    assert content[1].logprob == -0.25 and [t.token for t in content[1].top_logprobs] == [" a", "alt0"]
    assert content[1].bytes == list(b" a")
    chunks = list(client.chat.completions.create(model="gemini/gemini-2.5-flash", logprobs=True, stream=True,
                                                 messages=[{"role": "user", "content": "a b c d"}]))
    streamed = [t.token for c in chunks if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.content]
    assert "".join(streamed) == "echo: a b c d"


# --- the strict fake's turn and part rules (Gemini rejects empty text and split model turns) ----


def test_empty_user_text_is_not_sent_as_an_empty_part(client, fake):
    fake.clear()
    r = client.chat.completions.create(model="gemini/gemini-2.5-flash", messages=[
        {"role": "system", "content": ""}, {"role": "user", "content": ""},
        {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "hi"}]}])
    assert r.choices[0].message.content
    sent = fake.requests[-1].json()
    assert sent["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}] and "systemInstruction" not in sent


def test_separate_assistant_text_and_tool_calls_are_one_model_turn(client, fake):
    first = client.chat.completions.create(model="gemini/gemini-2.5-flash", tools=[WEATHER_TOOL],
                                           messages=[{"role": "user", "content": "weather?"}])
    call = first.choices[0].message.tool_calls[0].model_dump()  # its id carries the thought signature
    fake.clear()
    r = client.chat.completions.create(model="gemini/gemini-2.5-flash", tools=[WEATHER_TOOL], messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "Let me check."},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}])
    assert r.choices[0].message.content
    contents = fake.requests[-1].json()["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert ["functionCall" in p for p in contents[1]["parts"]] == [False, True]


def test_nothing_to_send_is_a_clear_400(client, fake):
    fake.clear()
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="gemini/gemini-2.5-flash", messages=[{"role": "user", "content": ""}])
    assert err.value.body["param"] == "messages"
    assert not fake.requests


@pytest.mark.parametrize(("model", "effort", "level"), [
    ("gemini-3-pro-preview", "low", "low"), ("gemini-3-pro-preview", "medium", "high"), ("gemini-3-pro-preview", "minimal", "low"),
    ("gemini-3-pro-preview", "high", "high"), ("gemini-3-flash-preview", "medium", "medium"),
    ("gemini-3-flash-preview", "minimal", "minimal"),
    ("gemini-3.1-pro-preview", "minimal", "low"), ("gemini-3.1-pro-preview", "medium", "medium"),
    ("gemini-3.5-flash", "minimal", "low"), ("gemini-3.5-flash-lite", "minimal", "minimal"),
    ("gemini-3.1-flash-lite", "minimal", "minimal"),
])
def test_gemini_3_reasoning_effort_is_a_level_the_model_takes(client, fake, model, effort, level):
    fake.clear()
    r = client.chat.completions.create(model=f"gemini/{model}", reasoning_effort=effort,
                                       messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].message.content
    assert fake.requests[-1].json()["generationConfig"]["thinkingConfig"]["thinkingLevel"] == level


@pytest.mark.parametrize("model", ["gemini-3-pro-preview", "gemini-3.5-flash", "gemini-3.9-ultra"])  # the last: unknown yet
@pytest.mark.parametrize("effort", ["none", "xhigh"])
def test_gemini_3_reasoning_effort_it_cannot_take_is_a_clear_400(client, fake, effort, model):
    fake.clear()
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model=f"gemini/{model}", reasoning_effort=effort,
                                       messages=[{"role": "user", "content": "x"}])
    assert err.value.body["param"] == "reasoning_effort"
    assert not fake.requests
