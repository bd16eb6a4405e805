"""Amazon Bedrock through the real gateway: the official `openai` SDK in front, a fake Bedrock behind.

The fake (tests/fakes/bedrock_upstream.py) recomputes every SigV4 signature on its own and checks
bodies against AWS's published Bedrock Runtime service model plus the API's conversation rules, so
a signing or translation mistake shows up as Bedrock's own 403/400. Golden tests replay the tool
use walk-through of AWS's "Call a tool with the Converse API" guide
(https://docs.aws.amazon.com/bedrock/latest/userguide/tool-use-inference-call.html).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import openai
import pytest

from llmg.config import ConfigError
from llmg.errors import GatewayError
from llmg.providers.base import Settings
from llmg.providers.bedrock import BedrockProvider
from llmg.providers.bedrock_map import StreamTranslator, from_converse, stream_exception, to_converse
from llmg.providers.catalogue import load_catalogue
from llmg.sigv4 import Signer
from llmg.transports import Timeout
from tests.fakes import bedrock_upstream
from tests.fakes.bedrock_upstream import PREAMBLE, REASONING, TOOL_INPUTS, TOOL_USE_IDS
from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess

REGION = "us-west-2"
ACCESS, SECRET = "AKIDFAKEBEDROCK01", "fake/Secret+Key0123456789abcdefEXAMPLE"
TEMP_ACCESS, TEMP_SECRET = "ASIAFAKETEMPORARY1", "temp/Secret+Key0123456789abcdefEXAMPLE"
TOKEN = "FwoGZXIvYXdzEXAMPLEsessionToken//+abc=="
CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
PROFILE = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Current weather",
           "parameters": {"type": "object", "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
                          "required": ["location"]}}}
SEARCH = {"type": "function", "function": {"name": "search", "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\0" * 24
PNG = base64.b64encode(PNG_BYTES).decode()
# Neutralise any AWS settings of the machine running the tests.
CLEAN_ENV = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": ""}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeServer]:
    server = bedrock_upstream.start({ACCESS: (SECRET, None), TEMP_ACCESS: (TEMP_SECRET, TOKEN)}, REGION)
    yield server
    server.stop()


def _config(fake: FakeServer, secret: str = SECRET) -> str:
    return f"""
[providers.bedrock]
api_key = "{ACCESS}"
base_url = "{fake.url}"
timeout = 5
params = {{ region = "{REGION}", secret_access_key = "{secret}" }}
"""


@pytest.fixture(scope="module")
def gateway(fake: FakeServer) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(_config(fake), env=CLEAN_ENV).start()
    yield gw
    gw.stop()


@pytest.fixture
def client(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0, timeout=20)


def last_body(fake: FakeServer) -> dict[str, Any]:
    return fake.requests[-1].json()


# --- through the gateway ------------------------------------------------------------------------


def test_plain_answer(client, fake):
    fake.clear()
    reply = client.chat.completions.create(
        model=f"bedrock/{CLAUDE}",
        messages=[{"role": "system", "content": "Be terse."}, {"role": "developer", "content": "No emoji."},
                  {"role": "user", "content": "Hello there"}],
        max_tokens=50, temperature=0.5, top_p=0.9, stop=["zzz"],
    )
    assert reply.choices[0].message.content == "echo: Hello there"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == CLAUDE and reply.id.startswith("chatcmpl-")
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens == 3
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 3
    sent = fake.requests[-1]
    assert sent.path == f"/model/{CLAUDE}/converse"
    assert sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS}/")
    assert f"/{REGION}/bedrock/aws4_request" in sent.headers["authorization"]
    assert "x-amz-security-token" not in sent.headers
    assert sent.json() == {
        "messages": [{"role": "user", "content": [{"text": "Hello there"}]}],
        "system": [{"text": "Be terse."}, {"text": "No emoji."}],
        "inferenceConfig": {"maxTokens": 50, "temperature": 0.5, "topP": 0.9, "stopSequences": ["zzz"]},
    }


def test_inference_profile_and_arn_model_ids_are_signed_correctly(client, fake):
    arn = f"arn:aws:bedrock:{REGION}:123456789012:inference-profile/{PROFILE}"
    for model in (PROFILE, arn):
        fake.clear()
        reply = client.chat.completions.create(model=f"bedrock/{model}", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "echo: hi"
        assert fake.requests[-1].path == f"/model/{model}/converse"  # decoded: the ARN's '/' was sent as %2F


def test_streamed_answer_with_usage(client, fake):
    fake.clear()
    stream = client.chat.completions.create(
        model=f"bedrock/{CLAUDE}", messages=[{"role": "user", "content": "stream me please"}],
        stream=True, stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: stream me please"
    assert len({c.id for c in chunks}) == 1
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    assert fake.requests[-1].path == f"/model/{CLAUDE}/converse-stream"
    assert fake.requests[-1].headers["accept"] == "application/vnd.amazon.eventstream"


def test_stream_without_include_usage_ends_with_finish_then_done(gateway, fake):
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers=gateway.auth, timeout=20,
                      json={"model": f"bedrock/{CLAUDE}", "stream": True, "messages": [{"role": "user", "content": "a b"}]}) as resp:
        assert resp.status_code == 200
        events = [line[6:] for line in resp.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    last = json.loads(events[-2])
    assert last["choices"][0]["finish_reason"] == "stop" and last.get("usage") is None


def test_tool_round_trip_not_streamed(client, fake):
    fake.clear()
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model=f"bedrock/{CLAUDE}", messages=messages, tools=[WEATHER, SEARCH],
                                           tool_choice="auto")
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == PREAMBLE
    (call,) = choice.message.tool_calls
    assert call.id == TOOL_USE_IDS[0] and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == json.loads(TOOL_INPUTS[0])
    body = last_body(fake)
    assert body["toolConfig"]["toolChoice"] == {"auto": {}}
    assert body["toolConfig"]["tools"][0] == {"toolSpec": {
        "name": "get_weather", "description": "Current weather", "inputSchema": {"json": WEATHER["function"]["parameters"]}}}
    assert body["toolConfig"]["tools"][1]["toolSpec"]["inputSchema"]["json"]["properties"] == {"query": {"type": "string"}}

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21, "sky": "clear"}'})
    final = client.chat.completions.create(model=f"bedrock/{CLAUDE}", messages=messages, tools=[WEATHER, SEARCH])
    assert final.choices[0].message.content == 'Tool said: {"sky": "clear", "temp_c": 21}'
    assert final.choices[0].finish_reason == "stop"
    sent = last_body(fake)["messages"]
    assert sent[1] == {"role": "assistant", "content": [
        {"text": PREAMBLE},
        {"toolUse": {"toolUseId": TOOL_USE_IDS[0], "name": "get_weather", "input": json.loads(TOOL_INPUTS[0])}}]}
    assert sent[2] == {"role": "user", "content": [
        {"toolResult": {"toolUseId": TOOL_USE_IDS[0], "content": [{"json": {"temp_c": 21, "sky": "clear"}}]}}]}


def test_tool_round_trip_streamed_with_parallel_calls(client, fake):
    fake.clear()
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Use both tools in parallel"}]
    chunks = list(client.chat.completions.create(model=f"bedrock/{PROFILE}", messages=messages, tools=[WEATHER, SEARCH],
                                                 tool_choice="required", stream=True))
    assert len({c.id for c in chunks}) == 1
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            if delta.id:
                assert not entry["id"], "the id comes once, on the first delta"
                entry["id"] = delta.id
            if delta.function and delta.function.name:
                entry["name"] += delta.function.name
            if delta.function and delta.function.arguments:
                entry["arguments"] += delta.function.arguments
    assert sorted(calls) == [0, 1]
    # The streamed arguments are exactly the bytes the upstream sent, not a re-encoding.
    assert calls[0] == {"id": TOOL_USE_IDS[0], "name": "get_weather", "arguments": TOOL_INPUTS[0]}
    assert calls[1] == {"id": TOOL_USE_IDS[1], "name": "search", "arguments": TOOL_INPUTS[1]}
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == PREAMBLE
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["tool_calls"]
    assert last_body(fake)["toolConfig"]["toolChoice"] == {"any": {}}

    messages.append({"role": "assistant", "content": None, "tool_calls": [
        {"id": calls[i]["id"], "type": "function", "function": {"name": calls[i]["name"], "arguments": calls[i]["arguments"]}}
        for i in (0, 1)]})
    messages.append({"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"})
    messages.append({"role": "tool", "tool_call_id": calls[1]["id"], "content": [{"type": "text", "text": "3 results"}]})
    messages.append({"role": "user", "content": "Summarise."})
    final = list(client.chat.completions.create(model=f"bedrock/{PROFILE}", messages=messages, tools=[WEATHER, SEARCH], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in final if c.choices) == "Tool said: sunny | 3 results"
    sent = last_body(fake)["messages"]
    # Both results (and the follow-up text) in ONE user turn, results first, as Converse requires.
    assert sent[-1] == {"role": "user", "content": [
        {"toolResult": {"toolUseId": TOOL_USE_IDS[0], "content": [{"text": "sunny"}]}},
        {"toolResult": {"toolUseId": TOOL_USE_IDS[1], "content": [{"text": "3 results"}]}},
        {"text": "Summarise."}]}
    assert sent[-2]["content"] == [
        {"toolUse": {"toolUseId": TOOL_USE_IDS[0], "name": "get_weather", "input": json.loads(TOOL_INPUTS[0])}},
        {"toolUse": {"toolUseId": TOOL_USE_IDS[1], "name": "search", "input": json.loads(TOOL_INPUTS[1])}}]


def test_forced_tool_and_tool_choice_none(client, fake):
    fake.clear()
    forced = client.chat.completions.create(model=f"bedrock/{CLAUDE}", messages=[{"role": "user", "content": "x"}],
                                            tools=[WEATHER, SEARCH], tool_choice={"type": "function", "function": {"name": "search"}})
    assert forced.choices[0].message.tool_calls[0].function.name == "search"
    assert last_body(fake)["toolConfig"]["toolChoice"] == {"tool": {"name": "search"}}
    none = client.chat.completions.create(model=f"bedrock/{CLAUDE}", messages=[{"role": "user", "content": "plain"}],
                                          tools=[WEATHER], tool_choice="none")
    assert none.choices[0].message.content == "echo: plain" and not none.choices[0].message.tool_calls
    assert "toolConfig" not in last_body(fake)


def test_image_input(client, fake):
    fake.clear()
    reply = client.chat.completions.create(model=f"bedrock/{CLAUDE}", messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}])
    assert reply.choices[0].message.content == f"echo: What is this? [image:png:{len(PNG_BYTES)}]"
    assert last_body(fake)["messages"][0]["content"][1] == {"image": {"format": "png", "source": {"bytes": PNG}}}


def test_http_image_url_is_a_clear_400_and_never_sent(client, fake):
    fake.clear()
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=f"bedrock/{CLAUDE}", messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}])
    assert "does not fetch image URLs" in info.value.message
    assert info.value.body["code"] == "unsupported_image_url"
    assert fake.requests == []


def test_reasoning_and_cached_tokens(gateway, fake):
    body = {"model": "bedrock/fake.reasoning-cache-v1:0", "messages": [{"role": "user", "content": "think"}]}
    plain = httpx.post(f"{gateway.url}/v1/chat/completions", headers=gateway.auth, json=body, timeout=20).json()
    message = plain["choices"][0]["message"]
    assert message["reasoning_content"] == REASONING and message["content"] == "echo: think"
    assert plain["usage"]["prompt_tokens_details"] == {"cached_tokens": 1024}
    upstream_usage = bedrock_upstream.plan_answer("fake.reasoning-cache-v1:0", {"messages": [
        {"role": "user", "content": [{"text": "think"}]}]})["usage"]
    assert plain["usage"]["prompt_tokens"] == upstream_usage["inputTokens"] + 1024 + 16
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers=gateway.auth, timeout=20,
                      json={**body, "stream": True}) as resp:
        events = [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: {")]
    reasoning = "".join(e["choices"][0]["delta"].get("reasoning_content", "") for e in events if e["choices"])
    content = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert reasoning == REASONING and content == "echo: think"


def test_max_tokens_gives_length(client):
    reply = client.chat.completions.create(model=f"bedrock/{CLAUDE}", max_completion_tokens=2,
                                           messages=[{"role": "user", "content": "one two three four"}])
    assert reply.choices[0].message.content == "echo: one" and reply.choices[0].finish_reason == "length"


# --- credentials ------------------------------------------------------------------------------


def test_session_token_credentials_from_the_standard_env_vars(start_gateway, fake):
    gw = start_gateway(f'[providers.bedrock]\nbase_url = "{fake.url}"\n', env={
        **CLEAN_ENV, "AWS_ACCESS_KEY_ID": TEMP_ACCESS, "AWS_SECRET_ACCESS_KEY": TEMP_SECRET,
        "AWS_SESSION_TOKEN": TOKEN, "AWS_DEFAULT_REGION": REGION})
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token, max_retries=0)
    fake.clear()
    reply = client.chat.completions.create(model=f"bedrock/{CLAUDE}", messages=[{"role": "user", "content": "temp creds"}])
    assert reply.choices[0].message.content == "echo: temp creds"
    sent = fake.requests[-1].headers
    assert sent["x-amz-security-token"] == TOKEN
    assert "x-amz-security-token" in sent["authorization"].split("SignedHeaders=")[1].split(",")[0]
    chunks = list(client.chat.completions.create(model=f"bedrock/{CLAUDE}", stream=True,
                                                 messages=[{"role": "user", "content": "temp stream"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: temp stream"
    for secret in (TEMP_SECRET, TOKEN):
        assert secret not in gw.output()


def test_wrong_secret_is_bedrocks_403_which_becomes_401(start_gateway, fake):
    gw = start_gateway(_config(fake, secret="not/the+right/secret"), env=CLEAN_ENV)
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token, max_retries=0)
    fake.clear()
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model=f"bedrock/{CLAUDE}", messages=[{"role": "user", "content": "x"}])
    assert info.value.body["type"] == "provider_error" and info.value.body["message"] == "Authentication failed"
    assert len(fake.requests) == 1  # it reached Bedrock, which refused the signature
    assert "not/the+right/secret" not in gw.output()
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model=f"bedrock/{CLAUDE}", stream=True, messages=[{"role": "user", "content": "x"}])


def test_unknown_access_key_is_401(start_gateway, fake):
    gw = start_gateway(_config(fake).replace(ACCESS, "AKIDUNKNOWN0000000"), env=CLEAN_ENV)
    resp = httpx.post(f"{gw.url}/v1/chat/completions", headers=gw.auth, timeout=20,
                      json={"model": f"bedrock/{CLAUDE}", "messages": [{"role": "user", "content": "x"}]})
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "provider_auth_failed"


def test_missing_secret_skips_bedrock_with_the_reason(start_gateway, fake):
    # The one rule for incomplete settings (issue 17): not registered, a 404 naming the missing
    # setting, nothing sent; it used to be a 502 on every request.
    gw = start_gateway(f'[providers.bedrock]\napi_key = "{ACCESS}"\nbase_url = "{fake.url}"\n', env=CLEAN_ENV)
    fake.clear()
    resp = httpx.post(f"{gw.url}/v1/chat/completions", headers=gw.auth, timeout=20,
                      json={"model": f"bedrock/{CLAUDE}", "messages": [{"role": "user", "content": "x"}]})
    assert resp.status_code == 404
    assert "AWS_SECRET_ACCESS_KEY" in resp.json()["error"]["message"]
    assert "bedrock: not registered: no AWS secret access key" in gw.output()
    assert fake.requests == []


# --- upstream errors --------------------------------------------------------------------------


@pytest.mark.parametrize("model,exc,status,needle", [
    ("fake.denied-v1:0", openai.AuthenticationError, 401, "Authentication failed"),
    ("fake.throttle-v1:0", openai.RateLimitError, 429, "ThrottlingException: Too many requests"),
    ("fake.internal-v1:0", openai.InternalServerError, 502, "InternalServerException"),
    ("fake.unavailable-v1:0", openai.InternalServerError, 502, "ServiceUnavailableException"),
    ("fake.timeout-v1:0", openai.APIStatusError, 408, "ModelTimeoutException"),
    ("nope.model-v1:0", openai.BadRequestError, 400, "ValidationException: The provided model identifier is invalid."),
])
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_errors(client, model, exc, status, needle, stream):
    with pytest.raises(exc) as info:
        result = client.chat.completions.create(model=f"bedrock/{model}", messages=[{"role": "user", "content": "x"}], stream=stream)
        list(result) if stream else None
    assert info.value.status_code == status
    assert needle in info.value.message


def test_bedrock_validation_error_reaches_the_client(client):
    # temperature 1.5 is valid for OpenAI (0-2) but Converse allows 0-1: Bedrock's own 400 comes back.
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=f"bedrock/{CLAUDE}", temperature=1.5, messages=[{"role": "user", "content": "x"}])
    assert "inferenceConfig.temperature" in info.value.message and "less than or equal to 1" in info.value.message


def test_mid_stream_exception_becomes_an_error_event(gateway):
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers=gateway.auth, timeout=20,
                      json={"model": "bedrock/fake.stream-throttle-v1:0", "stream": True,
                            "messages": [{"role": "user", "content": "one two three"}]}) as resp:
        assert resp.status_code == 200
        events = [line[6:] for line in resp.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    error = json.loads(events[-2])["error"]
    assert error["type"] == "rate_limit_error" and "ThrottlingException: Too many tokens" in error["message"]
    assert json.loads(events[0])["choices"][0]["delta"]["role"] == "assistant"


def test_stream_cut_mid_frame_becomes_an_error_event(gateway):
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers=gateway.auth, timeout=20,
                      json={"model": "bedrock/fake.stream-cut-v1:0", "stream": True,
                            "messages": [{"role": "user", "content": "one two three"}]}) as resp:
        events = [line[6:] for line in resp.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["error"]["type"] == "provider_error"


# --- the fake itself is faithful: AWS's own SDK talks to it ---------------------------------------


@pytest.fixture
def boto_client(fake):
    botocore_session = pytest.importorskip("botocore.session", reason="botocore drives the fake as the AWS SDK would")
    session = botocore_session.get_session()
    return session.create_client("bedrock-runtime", region_name=REGION, endpoint_url=fake.url,
                                 aws_access_key_id=TEMP_ACCESS, aws_secret_access_key=TEMP_SECRET, aws_session_token=TOKEN)


def test_aws_sdk_signatures_pass_the_fake_and_its_frames_parse(boto_client):
    answer = boto_client.converse(modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": "sdk"}]}])
    assert answer["output"]["message"]["content"] == [{"text": "echo: sdk"}] and answer["stopReason"] == "end_turn"
    stream = boto_client.converse_stream(modelId=PROFILE, messages=[{"role": "user", "content": [{"text": "sdk stream"}]}])
    events = list(stream["stream"])
    assert "".join(e["contentBlockDelta"]["delta"].get("text", "") for e in events if "contentBlockDelta" in e) == "echo: sdk stream"
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 3
    # The fake's mid-stream exception frame is what the SDK knows as a throttlingException.
    stream = boto_client.converse_stream(modelId="fake.stream-throttle-v1:0", messages=[{"role": "user", "content": [{"text": "a b c"}]}])
    with pytest.raises(Exception) as info:
        list(stream["stream"])
    assert "throttlingException" in str(info.value) and "Too many tokens" in str(info.value)


def test_fake_rejects_what_bedrock_rejects(boto_client, fake):
    botocore_exceptions = pytest.importorskip("botocore.exceptions")
    with pytest.raises(botocore_exceptions.ClientError) as info:
        boto_client.converse(modelId=CLAUDE, messages=[{"role": "user", "content": [{"text": "a"}]},
                                                       {"role": "user", "content": [{"text": "b"}]}])
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "alternate between user and assistant" in info.value.response["Error"]["Message"]
    # A body changed after signing: Bedrock's real 403 with the canonical request it expected.
    signer = Signer(ACCESS, SECRET, REGION, "bedrock")
    path = f"/model/{CLAUDE}/converse"
    headers = signer.sign("POST", f"127.0.0.1:{fake.port}", path, b'{"messages":[]}', headers={"content-type": "application/json"})
    resp = httpx.post(f"{fake.url}{path}", headers=headers, content=b'{"messages":[1]}')
    assert resp.status_code == 403 and resp.headers["x-amzn-ErrorType"].startswith("InvalidSignatureException:")
    assert resp.json()["message"].startswith("The request signature we calculated does not match")
    assert f"\n/model/{CLAUDE.replace(':', '%3A')}/converse\n" in resp.json()["message"]


# --- golden translation tests (AWS's tool-use walk-through) ----------------------------------------

TOP_SONG = {"type": "function", "function": {
    "name": "top_song", "description": "Get the most popular song played on a radio station.",
    "parameters": {"type": "object", "properties": {"sign": {"type": "string", "description": (
        "The call sign for the radio station for which you want the most popular song. Example calls signs are WZPZ and WKRP.")}},
        "required": ["sign"]}}}


def test_golden_request_step_1_tools_and_forced_choice():
    body = to_converse({"messages": [{"role": "user", "content": "What is the most popular song on WZPZ?"}],
                        "tools": [TOP_SONG], "tool_choice": {"type": "function", "function": {"name": "top_song"}}})
    assert body == {
        "messages": [{"role": "user", "content": [{"text": "What is the most popular song on WZPZ?"}]}],
        "toolConfig": {"tools": [{"toolSpec": {
            "name": "top_song", "description": "Get the most popular song played on a radio station.",
            "inputSchema": {"json": TOP_SONG["function"]["parameters"]}}}], "toolChoice": {"tool": {"name": "top_song"}}},
    }


def test_golden_response_step_2_tool_request():
    answer = {"output": {"message": {"role": "assistant", "content": [
        {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "top_song", "input": {"sign": "WZPZ"}}}]}},
        "stopReason": "tool_use", "usage": {"inputTokens": 375, "outputTokens": 42, "totalTokens": 417},
        "metrics": {"latencyMs": 2120}}
    reply = msgspec.to_builtins(from_converse(answer, "anthropic.claude-3-sonnet-20240229-v1:0", "chatcmpl-x", created=1))
    assert reply == {
        "id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "anthropic.claude-3-sonnet-20240229-v1:0",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": None, "message": {
            "role": "assistant", "content": None, "refusal": None, "tool_calls": [{
                "id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "type": "function",
                "function": {"name": "top_song", "arguments": '{"sign":"WZPZ"}'}}]}}],
        "usage": {"prompt_tokens": 375, "completion_tokens": 42, "total_tokens": 417},
    }


def test_golden_request_step_3_tool_result():
    body = to_converse({"messages": [
        {"role": "user", "content": "What is the most popular song on WZPZ?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "type": "function",
                                                               "function": {"name": "top_song", "arguments": '{"sign": "WZPZ"}'}}]},
        {"role": "tool", "tool_call_id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
         "content": '{"song": "Elemental Hotel", "artist": "8 Storey Hike"}'}], "tools": [TOP_SONG]})
    assert body["messages"][1:] == [
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "top_song",
                                                       "input": {"sign": "WZPZ"}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "content": [
            {"json": {"song": "Elemental Hotel", "artist": "8 Storey Hike"}}]}}]},
    ]
    assert "toolChoice" not in body["toolConfig"]


def test_golden_response_step_4_final_answer():
    answer = {"output": {"message": {"role": "assistant", "content": [
        {"text": "The most popular song on WZPZ is Elemental Hotel by 8 Storey Hike."}]}}, "stopReason": "end_turn",
        "usage": {"inputTokens": 459, "outputTokens": 19, "totalTokens": 478}, "metrics": {"latencyMs": 1103}}
    reply = from_converse(answer, "m", "chatcmpl-y", created=1)
    assert reply.choices[0].message.content == "The most popular song on WZPZ is Elemental Hotel by 8 Storey Hike."
    assert reply.choices[0].finish_reason == "stop" and reply.usage.total_tokens == 478


@pytest.mark.parametrize("reason,expected", [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("model_context_window_exceeded", "length"),
    ("tool_use", "tool_calls"), ("guardrail_intervened", "content_filter"), ("content_filtered", "content_filter")])
def test_stop_reasons(reason, expected):
    body = {"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}}, "stopReason": reason,
            "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}}
    assert from_converse(body, "m", "i").choices[0].finish_reason == expected
    translator = StreamTranslator("m", "i", False)
    out = b"".join(translator.feed(("messageStop", {"stopReason": reason})))
    assert json.loads(out[6:])["choices"][0]["finish_reason"] == expected


def test_stream_translator_documented_event_sequence():
    # The event order of ConverseStream for a tool call (ConverseStreamOutput reference), split input JSON.
    translator = StreamTranslator("m", "chatcmpl-s", include_usage=True, created=5)
    events = [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Checking."}}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "top_song"}}}),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"sign": '}}}),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '"WZPZ"}'}}}),
        ("contentBlockStop", {"contentBlockIndex": 1}),
        ("messageStop", {"stopReason": "tool_use"}),
        ("metadata", {"usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15, "cacheReadInputTokens": 4},
                      "metrics": {"latencyMs": 1}}),
    ]
    out = b"".join(b"".join(translator.feed(item)) for item in events) + b"".join(translator.close())
    chunks = [json.loads(part) for part in out.decode().replace("data: ", "").split("\n\n") if part.startswith("{")]
    assert b"[DONE]" not in out  # translate.run writes it, for every translator
    assert {c["id"] for c in chunks} == {"chatcmpl-s"}
    assert [c["choices"][0]["delta"] for c in chunks if c["choices"]] == [
        {"role": "assistant", "content": ""},
        {"content": "Checking."},
        {"tool_calls": [{"index": 0, "id": "tooluse_1", "type": "function", "function": {"name": "top_song", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"sign": '}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"WZPZ"}'}}]},
        {},
    ]
    assert chunks[-1]["usage"] == {"prompt_tokens": 14, "completion_tokens": 5, "total_tokens": 19,
                                   "prompt_tokens_details": {"cached_tokens": 4}}


def test_stream_exception_mapping():
    err = stream_exception({":exception-type": "throttlingException", ":message-type": "exception"},
                           b'{"message":"slow down"}', "bedrock", ())
    assert err.status == 429 and err.message == "ThrottlingException: slow down"
    assert err.headers["x-llmg-provider"] == "bedrock"
    err = stream_exception({":exception-type": "modelStreamErrorException"}, b'{"message":"boom"}', "bedrock", ())
    assert err.status == 502 and err.type == "provider_error" and "boom" in err.message
    err = stream_exception({":message-type": "error", ":error-code": "InternalFailure", ":error-message": "oops"}, b"", "bedrock", ())
    assert err.status == 502 and "oops" in err.message


@pytest.mark.parametrize("data,needle", [
    ({"n": 2}, "n must be 1"),
    ({"logprobs": True}, "logprobs"),
    ({"reasoning_effort": "low"}, "only mapped for Claude"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}]}]},
     "image/tiff"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]}, "input_audio"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]}, "not valid JSON"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "tool_call_id"),
    ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "role 'function'"),
])
def test_requests_converse_cannot_express_are_clear_400s(data, needle):
    with pytest.raises(GatewayError) as info:
        to_converse({"messages": [{"role": "user", "content": "hi"}], **data})
    assert info.value.status == 400 and needle in info.value.message


def test_json_schema_response_format_and_documents():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = to_converse({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "read"},
        {"type": "file", "file": {"filename": "Q3 report (final).pdf", "file_data": "data:application/pdf;base64,JVBERi0="}}]}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}}})
    assert body["outputConfig"] == {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {
        "schema": '{"type":"object","properties":{"a":{"type":"integer"}}}', "name": "out"}}}}
    assert body["messages"][0]["content"][1] == {"document": {"format": "pdf", "name": "Q3 report (final)",
                                                              "source": {"bytes": "JVBERi0="}}}


def test_tool_choice_none_keeps_tools_when_history_has_tool_blocks():
    body = to_converse({"tools": [TOP_SONG], "tool_choice": "none", "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "top_song", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t", "content": ""}]})
    assert body["toolConfig"] == {"tools": to_converse({"tools": [TOP_SONG], "messages": [{"role": "user", "content": "q"}]})["toolConfig"]["tools"]}
    assert body["messages"][2]["content"][0]["toolResult"]["content"] == [{"text": "(empty)"}]


# --- adapter construction ---------------------------------------------------------------------


def _settings(**params: Any) -> Settings:
    return Settings(name="bedrock", spec=load_catalogue()["bedrock"], api_key="AKIDEXAMPLE", base_url=None,
                    timeout=Timeout(total=5, connect=1), headers={}, models=None, params=params)


def test_region_and_endpoint_resolution():
    provider = BedrockProvider(_settings(), transport=None, environ={"AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "eu-west-3"})
    assert provider.region == "eu-west-3"
    assert provider.origin == "https://bedrock-runtime.eu-west-3.amazonaws.com"
    assert provider.host == "bedrock-runtime.eu-west-3.amazonaws.com" and provider.prefix == ""
    provider = BedrockProvider(_settings(region="ap-south-1"), transport=None,
                               environ={"AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "us-east-2", "AWS_SESSION_TOKEN": "tok"})
    assert provider.region == "ap-south-1" and provider.signer.session_token == "tok"
    assert provider.secrets == ("AKIDEXAMPLE", "s", "tok")
    assert BedrockProvider(_settings(), transport=None, environ={"AWS_SECRET_ACCESS_KEY": "s"}).region == "us-east-1"
    with pytest.raises(ConfigError):
        BedrockProvider(_settings(region="us-east-1/../x"), transport=None, environ={"AWS_SECRET_ACCESS_KEY": "s"})


def test_httpx_transport_signs_what_it_sends_too(start_gateway, fake):
    # aiohttp (yarl) and httpx put different bytes on the wire for an escaped ':'; the adapter
    # builds paths both leave alone, so the signature holds with either transport.
    gw = start_gateway('[server]\ntransport = "httpx"\n' + _config(fake), env=CLEAN_ENV)
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token, max_retries=0)
    arn = f"arn:aws:bedrock:{REGION}:123456789012:inference-profile/{PROFILE}"
    reply = client.chat.completions.create(model=f"bedrock/{arn}", messages=[{"role": "user", "content": "via httpx"}])
    assert reply.choices[0].message.content == "echo: via httpx"
    chunks = list(client.chat.completions.create(model=f"bedrock/{CLAUDE}", stream=True,
                                                 messages=[{"role": "user", "content": "httpx stream"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: httpx stream"


CLAUDE = "anthropic.claude-3-7-sonnet-20250219-v1:0"


def test_json_object_is_structured_output_with_any_object():
    body = to_converse({"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}})
    assert body["outputConfig"] == {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {
        "schema": '{"type":"object"}', "name": "json_object"}}}}


def test_reasoning_effort_thinking_and_top_k_go_in_additional_fields():
    body = to_converse({"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "medium"}, CLAUDE)
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 4096}}
    assert body["inferenceConfig"]["maxTokens"] > 4096
    body = to_converse({"messages": [{"role": "user", "content": "hi"}], "top_k": 40}, CLAUDE)
    assert body["additionalModelRequestFields"] == {"top_k": 40}
    with pytest.raises(GatewayError) as info:  # Claude refuses top_k with thinking on
        to_converse({"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "medium", "top_k": 40}, CLAUDE)
    assert info.value.status == 400 and info.value.param == "top_k"
    body = to_converse({"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "high", "max_tokens": 3000}, CLAUDE)
    assert body["additionalModelRequestFields"]["thinking"]["budget_tokens"] == 2999
    body = to_converse({"messages": [{"role": "user", "content": "hi"}], "thinking": {"type": "enabled", "budget_tokens": 2048}}, CLAUDE)
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    assert body["inferenceConfig"]["maxTokens"] > 2048
    assert "additionalModelRequestFields" not in to_converse({"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "none"}, CLAUDE)
    with pytest.raises(GatewayError) as info:
        to_converse({"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "low", "max_tokens": 500}, CLAUDE)
    assert info.value.status == 400 and info.value.param == "max_tokens"
