"""Hugging Face Inference Providers: the router's OpenAI-compatible endpoint
(https://huggingface.co/docs/inference-providers/index: ``POST https://router.huggingface.co/v1/chat/completions``,
``Authorization: Bearer $HF_TOKEN``) served by the ``openai_compat`` adapter. The fake is the fake
OpenAI API on HF's path, with the router's own 401 body."""

from __future__ import annotations

import openai
import pytest
from aiohttp import web

from llmg.providers.catalogue import load_catalogue
from tests.fakes import openai_upstream
from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess

HF_TOKEN = "hf_fakeRouterToken0123456789"
MODEL = "huggingface/meta-llama/Llama-3.3-70B-Instruct:fastest"


def make_router() -> web.Application:
    app = openai_upstream.make_app(HF_TOKEN)

    @web.middleware
    async def hf_auth(request: web.Request, handler):
        # The router answers a bad token with its own body, not OpenAI's envelope.
        if request.headers.get("Authorization") != f"Bearer {HF_TOKEN}":
            return web.json_response({"error": "Invalid username or password."}, status=401)
        return await handler(request)

    app.middlewares.append(hf_auth)
    return app


@pytest.fixture(scope="module")
def router():
    server = FakeServer(make_router()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(router):
    # The key comes from $HF_TOKEN, as the catalogue documents; only base_url points at the fake.
    gw = GatewayProcess(f'[providers.huggingface]\nbase_url = "{router.url}/v1"\ntimeout = 5\n', env={"HF_TOKEN": HF_TOKEN}).start()
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def client(gateway):
    return openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0)


def test_catalogue_entry_matches_the_router_docs():
    spec = load_catalogue()["huggingface"]
    assert spec.adapter == "openai_compat" and spec.auth == "bearer"
    assert spec.base_url == "https://router.huggingface.co/v1"
    assert spec.env[0] == "HF_TOKEN" and {"HUGGINGFACE_API_KEY", "HF_API_KEY"} <= set(spec.env)


def test_plain_answer(client, router):
    router.clear()
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hello hf"}])
    assert r.choices[0].message.content == "echo: hello hf"
    sent = router.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {HF_TOKEN}"
    assert sent.json()["model"] == "meta-llama/Llama-3.3-70B-Instruct:fastest"  # org and :policy suffix kept


def test_streamed_answer(client):
    chunks = list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "stream hf"}],
                                                 stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip() == "echo: stream hf"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage.total_tokens == 7


def test_wrong_token_is_provider_auth_error(router):
    gw = GatewayProcess(f'[providers.huggingface]\nbase_url = "{router.url}/v1"\napi_key = "hf_wrong"\n').start()
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token, max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
        assert info.value.body["type"] == "provider_error"
    finally:
        gw.stop()
