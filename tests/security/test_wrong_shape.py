"""Issue 9 item 8: a well-formed but wrong-shaped 2xx from any translated provider is a 502
``upstream_bad_response`` (plain) or an ``upstream_bad_response`` error event (streamed), never
a 500 or a traceback in the log."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes import gemini_upstream, wrong_shape_upstream
from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess

CLEAN_AWS = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": ""}

CHAT_MODELS = ["anthropic/claude-x", "gemini/gemini-x", "vertex_ai/gemini-x", "bedrock/anthropic.claude-x-v1:0",
               "cohere/command-x", "watsonx/ibm/granite-x"]
EMBED_MODELS = ["gemini/text-embedding-x", "vertex_ai/text-embedding-x", "cohere/embed-x"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Iterator[tuple[FakeServer, GatewayProcess]]:
    fake = wrong_shape_upstream.start()
    info, _ = gemini_upstream.make_service_account(f"{fake.url}/token", "p1")
    key_file = tmp_path_factory.mktemp("sa") / "sa.json"
    key_file.write_text(json.dumps(info))
    gateway = GatewayProcess(f"""
[providers.anthropic]
api_key = "sk-ant-wrong-shape"
base_url = "{fake.url}/v1"
timeout = 5

[providers.gemini]
api_key = "gemini-wrong-shape"
base_url = "{fake.url}/v1beta"
timeout = 5

[providers.vertex_ai]
base_url = "{fake.url}"
timeout = 5
params = {{ credentials_file = "{key_file}", location = "us-central1" }}

[providers.bedrock]
api_key = "AKIDWRONGSHAPE0001"
base_url = "{fake.url}"
timeout = 5
params = {{ region = "us-east-1", secret_access_key = "wrong/shape/secret" }}

[providers.cohere]
api_key = "co-wrong-shape"
base_url = "{fake.url}"
timeout = 5

[providers.watsonx]
api_key = "wx-wrong-shape"
base_url = "{fake.url}"
timeout = 5
params = {{ project_id = "p1", token_url = "{fake.url}/identity/token" }}
""", env=CLEAN_AWS).start()
    yield fake, gateway
    gateway.stop()
    fake.stop()


def _assert_clean_log(gateway: GatewayProcess) -> None:
    output = gateway.output()
    assert "Traceback" not in output, output[-3000:]
    assert "unhandled error" not in output


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_wrong_shaped_chat_answer_is_a_502(hostile, model):
    _, gateway = hostile
    r = httpx.post(f"{gateway.url}/v1/chat/completions", headers=gateway.auth, timeout=15,
                   json={"model": model, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 502, r.text
    error = r.json()["error"]
    assert error["code"] == "upstream_bad_response" and error["type"] == "provider_error"
    _assert_clean_log(gateway)


@pytest.mark.parametrize("model", EMBED_MODELS)
def test_wrong_shaped_embeddings_answer_is_a_502(hostile, model):
    _, gateway = hostile
    r = httpx.post(f"{gateway.url}/v1/embeddings", headers=gateway.auth, timeout=15, json={"model": model, "input": ["a", "b"]})
    assert r.status_code == 502, r.text
    assert r.json()["error"]["code"] == "upstream_bad_response"
    _assert_clean_log(gateway)


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_wrong_shaped_stream_ends_with_an_error_event(hostile, model):
    _, gateway = hostile
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers=gateway.auth, timeout=15,
                      json={"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as r:
        text = r.read().decode()
    if r.status_code != 200:  # refused before the first byte: still the clean 502
        assert r.status_code == 502 and json.loads(text)["error"]["code"] == "upstream_bad_response", text
    else:
        events = [json.loads(line[6:]) for line in text.split("\n") if line.startswith("data: {")]
        assert events and events[-1].get("error", {}).get("code") == "upstream_bad_response", text
        assert text.endswith("data: [DONE]\n\n")
    _assert_clean_log(gateway)
