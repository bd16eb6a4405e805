"""IBM watsonx.ai: golden translation tests from IBM's API reference, the token cache, and the
gateway end to end through the official ``openai`` SDK against fake IAM + watsonx servers."""

from __future__ import annotations

import asyncio
import json
import time

import openai
import pytest

from llmg.errors import GatewayError
from llmg.providers import watsonx
from llmg.providers.token_cache import Token, TokenCache
from tests.fakes import watsonx_upstream
from tests.gateway import GatewayProcess

KEY = "ibm-fake-apikey"
PROJECT = "a1b2c3d4-0000-4000-8000-0123456789ab"

# --- golden translation tests (https://cloud.ibm.com/apidocs/watsonx-ai#text-chat examples) -----


def test_request_golden():
    openai_body = {
        "model": "watsonx/ibm/granite-3-3-8b-instruct",
        "messages": [
            {"role": "developer", "content": "You are a helpful assistant."},
            {"role": "user", "content": [{"type": "text", "text": "What is the weather in Madrid?"}]},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "chatcmpl-tool-1", "type": "function",
                                                                    "function": {"name": "get_weather", "arguments": '{"location": "Madrid"}'}}]},
            {"role": "tool", "tool_call_id": "chatcmpl-tool-1", "content": "24C"},
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "strict": True,
                                                    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}],
        "tool_choice": "auto", "max_tokens": 100, "temperature": 0, "top_p": 1, "stop": "\n\n", "seed": 1,
        "stream": True, "stream_options": {"include_usage": True}, "user": "u1", "parallel_tool_calls": False,
        "response_format": {"type": "json_object"},
    }
    assert watsonx.chat_request(openai_body, "ibm/granite-3-3-8b-instruct", project_id=PROJECT, space_id=None) == {
        "model_id": "ibm/granite-3-3-8b-instruct",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": [{"type": "text", "text": "What is the weather in Madrid?"}]},
            {"role": "assistant", "tool_calls": [{"id": "chatcmpl-tool-1", "type": "function",
                                                  "function": {"name": "get_weather", "arguments": '{"location": "Madrid"}'}}]},
            {"role": "tool", "tool_call_id": "chatcmpl-tool-1", "content": "24C"},
        ],
        "project_id": PROJECT,
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                                    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}],
        "tool_choice_option": "auto",
        "max_completion_tokens": 100,
        "stop": ["\n\n"],
        "seed": 1, "temperature": 0, "top_p": 1,
        "response_format": {"type": "json_object"},
    }


def test_request_named_tool_choice_and_space():
    body = watsonx.chat_request({"messages": [{"role": "user", "content": "x"}],
                                 "tool_choice": {"type": "function", "function": {"name": "f"}}}, "m", project_id=None, space_id="sp-1")
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}} and body["space_id"] == "sp-1"
    assert "project_id" not in body
    with pytest.raises(GatewayError):
        watsonx.chat_request({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "m", project_id="p", space_id=None)
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    body = watsonx.chat_request({"messages": [{"role": "system", "content": parts}, {"role": "user", "content": parts},
                                              {"role": "tool", "tool_call_id": "c", "content": parts}]}, "m", project_id="p", space_id=None)
    assert [m["content"] for m in body["messages"]] == ["ab", parts, "ab"]


def test_response_golden():
    body = {
        "id": "chatcmpl-5d0c8a6d1b3e4a0f8b0e0c3f4a5b6c7d", "model_id": "ibm/granite-3-3-8b-instruct", "model": "ibm/granite-3-3-8b-instruct",
        "choices": [{"index": 0, "message": {"role": "assistant", "tool_calls": [
            {"id": "chatcmpl-tool-af37032523934f019aa7258469580a7a", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"location\": \"Madrid\"}"}}]}, "finish_reason": "tool_calls"}],
        "created": 1728806666, "model_version": "3.3.0", "created_at": "2024-10-13T08:04:26.981Z",
        "usage": {"completion_tokens": 20, "prompt_tokens": 195, "total_tokens": 215},
    }
    assert watsonx.chat_response(body, "ibm/granite-3-3-8b-instruct") == {
        "id": "chatcmpl-5d0c8a6d1b3e4a0f8b0e0c3f4a5b6c7d", "object": "chat.completion", "created": 1728806666,
        "model": "ibm/granite-3-3-8b-instruct",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
            {"id": "chatcmpl-tool-af37032523934f019aa7258469580a7a", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"location\": \"Madrid\"}"}}]},
            "finish_reason": "tool_calls", "logprobs": None}],
        "usage": {"prompt_tokens": 195, "completion_tokens": 20, "total_tokens": 215},
    }
    for theirs, ours in (("time_limit", "length"), ("cancelled", "stop"), ("length", "length"), ("stop", "stop")):
        assert watsonx.chat_response({"choices": [{"index": 0, "message": {"content": "x"}, "finish_reason": theirs}]}, "m")["choices"][0]["finish_reason"] == ours
    with pytest.raises(GatewayError) as info:
        watsonx.chat_response({"choices": [{"index": 0, "message": {"content": "x"}, "finish_reason": "error"}]}, "m")
    assert info.value.status == 502


def test_stream_without_finish_reason_still_ends_once():
    """Some watsonx models end a tool-calling stream with no finish_reason: the client gets tool_calls."""
    t = watsonx.StreamTranslator("m", include_usage=True)
    out = list(t.feed({"id": "c1", "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [
        {"index": 0, "id": "call1", "type": "function", "function": {"name": "f", "arguments": ""}}]}}]}))
    out += list(t.feed({"id": "c1", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}}]}))
    out += list(t.feed({"id": "c1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}))
    out += list(t.close())
    chunks = [json.loads(c[6:]) for c in out]
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]] == ["tool_calls"]
    assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def test_error_message():
    body = b'{"errors":[{"code":"model_not_supported","message":"Model x is not supported"}],"trace":"t","status_code":404}'
    assert watsonx.error_message(body) == "model_not_supported: Model x is not supported"
    assert watsonx.error_message(b'{"errorCode":"BXNIM0415E","errorMessage":"Provided API key could not be found."}') == "Provided API key could not be found."


# --- the token cache ----------------------------------------------------------------------------


def test_token_cache_one_exchange_in_flight_and_expiry():
    now = [100.0]
    calls = []

    async def fetch() -> Token:
        calls.append(now[0])
        await asyncio.sleep(0.01)
        return Token(value=f"t{len(calls)}", expires_in=600)

    cache = TokenCache(fetch, margin=60, clock=lambda: now[0])

    async def scenario():
        first = await asyncio.gather(*(cache.get() for _ in range(20)))
        assert set(first) == {"t1"} and len(calls) == 1  # 20 concurrent callers, one exchange
        now[0] += 539  # still before expiry - margin
        assert await cache.get() == "t1"
        now[0] += 2  # past expiry - margin
        assert await cache.get() == "t2"
        cache.invalidate("t1")  # a stale 401 for the old token does not drop the new one
        assert await cache.get() == "t2"
        cache.invalidate("t2")
        assert await cache.get() == "t3"

    asyncio.run(scenario())
    assert len(calls) == 3


def test_token_cache_refresh_in_and_failures_not_cached():
    now = [0.0]
    results: list = [GatewayError("boom", status=502), Token("a", expires_in=1800, refresh_in=1500)]

    async def fetch() -> Token:
        item = results.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    cache = TokenCache(fetch, clock=lambda: now[0])

    async def scenario():
        with pytest.raises(GatewayError):
            await cache.get()
        assert await cache.get() == "a"
        now[0] = 1499
        assert cache.current == "a"
        now[0] = 1501
        assert cache.current is None  # refresh_in (1500) wins over expires_in - margin (1740)

    asyncio.run(scenario())


# --- end to end through the openai SDK ----------------------------------------------------------


@pytest.fixture(scope="module")
def fake():
    server = watsonx_upstream.start(KEY)
    yield server
    server.stop()


def _config(fake, key: str = KEY, project: str | None = PROJECT) -> str:
    params = f'params = {{ project_id = "{project}", token_url = "{fake.url}/identity/token", version = "2024-05-31" }}' if project \
        else f'params = {{ token_url = "{fake.url}/identity/token" }}'
    return f"""
[providers.watsonx]
api_key = "{key}"
base_url = "{fake.url}"
timeout = 5
{params}
"""


@pytest.fixture(scope="module")
def gateway(fake):
    gw = GatewayProcess(_config(fake)).start()
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def client(gateway):
    return openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0)


MODEL = "watsonx/ibm/granite-3-3-8b-instruct"


def test_plain_answer_and_token_caching(client, fake):
    fake.clear()
    for i in range(3):
        r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"hello {i}"}])
        assert r.choices[0].message.content == f"echo: hello {i}"
        assert r.choices[0].finish_reason == "stop" and r.usage.total_tokens == 40
    assert fake.events.get("token_exchanges") == 1  # three chats, one IAM exchange
    chats = [q for q in fake.requests if q.path == "/ml/v1/text/chat"]
    assert len(chats) == 3 and chats[0].query == {"version": "2024-05-31"}
    sent = chats[0].json()
    assert sent["model_id"] == "ibm/granite-3-3-8b-instruct" and sent["project_id"] == PROJECT
    token_req = next(q for q in fake.requests if q.path == "/identity/token")
    assert token_req.body.decode() == f"grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey&apikey={KEY}"


def test_streamed_answer(client):
    chunks = list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "stream this"}],
                                                 stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: stream this"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage.prompt_tokens == 31


TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}]


@pytest.mark.parametrize("stream", [False, True])
def test_tool_round_trip(client, stream):
    messages = [{"role": "user", "content": "Weather in Madrid?"}]
    if stream:
        chunks = list(client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, stream=True))
        args = "".join(tc.function.arguments or "" for c in chunks for tc in (c.choices[0].delta.tool_calls or []) if tc.function)
        ids = [tc.id for c in chunks for tc in (c.choices[0].delta.tool_calls or []) if tc.id]
        assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["tool_calls"]
        call_id = ids[0]
    else:
        r = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
        call_id, args = r.choices[0].message.tool_calls[0].id, r.choices[0].message.tool_calls[0].function.arguments
    assert call_id == watsonx_upstream.TOOL_CALL_ID and args == watsonx_upstream.TOOL_ARGUMENTS
    messages += [{"role": "assistant", "content": None, "tool_calls": [{"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": args}}]},
                 {"role": "tool", "tool_call_id": call_id, "content": "24C"}]
    r = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
    assert r.choices[0].message.content == "The tool said: 24C"


def test_revoked_token_is_refreshed_once(client, fake):
    fake.clear()
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "warm"}])
    fake.app["revoked"].update(fake.app["tokens"])  # every token issued so far stops working
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "after revoke"}])
    assert r.choices[0].message.content == "echo: after revoke"
    assert fake.events.get("token_exchanges") == 1  # exactly one refresh
    statuses = [q.path for q in fake.requests]
    assert statuses.count("/ml/v1/text/chat") == 3  # warm, rejected, retried


def test_token_expiry_triggers_new_exchange(start_gateway, fake):
    fake.clear()
    fake.app["settings"]["expires_in"] = 2  # cached for half its life (1 s) at most
    try:
        gw = start_gateway(_config(fake))
        client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token, max_retries=0)
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "a"}])
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "b"}])
        assert fake.events.get("token_exchanges") == 1
        time.sleep(1.2)
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "c"}])
        assert fake.events.get("token_exchanges") == 2
        assert not [q for q in fake.requests if q.path.startswith("/ml/")
                    and q.headers.get("authorization", "").removeprefix("Bearer ") not in fake.app["tokens"]]
    finally:
        fake.app["settings"]["expires_in"] = 3600


def test_upstream_error(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="watsonx/error-404", messages=[{"role": "user", "content": "x"}])
    assert "model_not_supported: fake watsonx error 404" in info.value.body["message"]
    with pytest.raises(openai.InternalServerError) as info:
        list(client.chat.completions.create(model="watsonx/error-503", messages=[{"role": "user", "content": "x"}], stream=True))
    assert info.value.status_code == 502


def test_bad_api_key_is_provider_auth_error(start_gateway, fake):
    gw = start_gateway(_config(fake, key="ibm-wrong-key"))
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert info.value.body["type"] == "provider_error"
    assert "ibm-wrong-key" not in gw.output()


def test_missing_project_skips_the_provider_with_a_reason(start_gateway, fake):
    # The one rule for incomplete settings (issue 17): skipped with a warning, a 404 naming the
    # missing setting, never the 500 on every request it used to be.
    gw = start_gateway(_config(fake, project=None), env={"WATSONX_PROJECT_ID": "", "WATSONX_SPACE_ID": ""})
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token, max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert info.value.body["message"].startswith("Unknown provider: watsonx (not registered: no project")
    assert "providers.watsonx.params.project_id" in info.value.body["message"]
    assert "watsonx: not registered: no project" in gw.output()
    assert not [q for q in fake.requests if q.path == "/ml/v1/text/chat" and "project_id" not in q.json()]


def test_image_input_passes_through(client, fake):
    image = "data:image/png;base64,iVBORw0KGgo="
    r = client.chat.completions.create(model="watsonx/meta-llama/llama-3-2-11b-vision-instruct", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": image}}]}])
    assert r.choices[0].message.content == "echo: what is this"
    sent = [q for q in fake.requests if q.path == "/ml/v1/text/chat"][-1].json()
    assert sent["model_id"] == "meta-llama/llama-3-2-11b-vision-instruct"
    assert sent["messages"][0]["content"][1] == {"type": "image_url", "image_url": {"url": image}}


# --- embeddings (https://cloud.ibm.com/apidocs/watsonx-ai#text-embeddings) ----------------------

EMBED_MODEL = "watsonx/ibm/slate-30m-english-rtrvr-v2"


def test_embed_request_golden_and_batches():
    bodies = watsonx.embed_requests({"input": ["a"] * 1500, "truncate_input_tokens": 128}, "ibm/slate-30m-english-rtrvr-v2",
                                    project_id=None, space_id="space-1")
    assert [len(b["inputs"]) for b in bodies] == [1000, 500]
    assert {k: v for k, v in bodies[0].items() if k != "inputs"} == {
        "model_id": "ibm/slate-30m-english-rtrvr-v2", "space_id": "space-1", "parameters": {"truncate_input_tokens": 128}}
    assert watsonx.embed_requests({"input": "one"}, "m", project_id=PROJECT, space_id=None) == [
        {"model_id": "m", "project_id": PROJECT, "inputs": ["one"]}]


def test_embed_response_golden():
    answer = {"model_id": "ibm/slate-125m-english-rtrvr", "results": [{"embedding": [-0.006929283, -0.005336422, -0.024047505]}],
              "created_at": "2024-02-21T17:32:28Z", "input_token_count": 10}
    assert watsonx.embed_response([answer], "ibm/slate-125m-english-rtrvr") == {
        "object": "list", "model": "ibm/slate-125m-english-rtrvr",
        "data": [{"object": "embedding", "index": 0, "embedding": [-0.006929283, -0.005336422, -0.024047505]}],
        "usage": {"prompt_tokens": 10, "total_tokens": 10}}


def test_embeddings_end_to_end(client, fake):
    fake.clear()
    texts = ["Youth craves thrills while adulthood cherishes wisdom.", "Dreams chased in youth."]
    r = client.embeddings.create(model=EMBED_MODEL, input=texts, encoding_format="float")
    assert [d.embedding for d in r.data] == [pytest.approx(watsonx_upstream.embedding(t)) for t in texts]
    assert [d.index for d in r.data] == [0, 1]
    assert r.usage.prompt_tokens == r.usage.total_tokens == sum(len(t.split()) for t in texts)
    sent = [q for q in fake.requests if q.path == "/ml/v1/text/embeddings"][-1]
    assert sent.query["version"] == "2024-05-31"
    assert sent.json() == {"model_id": "ibm/slate-30m-english-rtrvr-v2", "project_id": PROJECT, "inputs": texts}


def test_embeddings_base64_as_the_openai_sdk_decodes_it(client):
    # The SDK asks for base64 by default and decodes the float32 bytes itself.
    r = client.embeddings.create(model=EMBED_MODEL, input="hello world")
    assert r.data[0].embedding == pytest.approx(watsonx_upstream.embedding("hello world"), rel=1e-6)


def test_embeddings_over_a_thousand_inputs_are_batched_in_order(client, fake):
    fake.clear()
    texts = [f"text number {i}" + " x" * (i % 7) for i in range(1500)]
    r = client.embeddings.create(model=EMBED_MODEL, input=texts, encoding_format="float")
    assert len(r.data) == 1500 and [d.index for d in r.data] == list(range(1500))
    assert r.data[1499].embedding == pytest.approx(watsonx_upstream.embedding(texts[1499]))
    assert fake.events.get("embed_requests") == 2


def test_embeddings_truncation_is_passed_on_and_too_long_is_context_length(client, fake):
    long_text = "word " * 600
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model=EMBED_MODEL, input=long_text, encoding_format="float")
    assert info.value.code == "context_length_exceeded"
    r = client.embeddings.create(model=EMBED_MODEL, input=long_text, encoding_format="float", extra_body={"truncate_input_tokens": 512})
    assert r.usage.prompt_tokens == 512


@pytest.mark.parametrize(("extra", "param"), [({"dimensions": 256}, "dimensions"), ({"input": [[1, 2, 3]]}, "input")])
def test_embeddings_what_watsonx_cannot_express_is_a_clear_400(client, fake, extra, param):
    fake.clear()
    body = {"model": EMBED_MODEL, "input": "hi", **extra}
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(**body)
    assert info.value.param == param
    assert not [q for q in fake.requests if q.path == "/ml/v1/text/embeddings"]


def test_embeddings_upstream_error(client):
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="watsonx/error-404", input="hi")
