"""Every catalogue entry served by a generic adapter, routed through one real gateway.

One gateway process is configured with all of them at once; each provider's base_url points at
its own fake port on 127.0.0.1 *with the real base path kept* (``/v1/openai`` for DeepInfra,
``/api/paas/v4`` for Z.ai, ...), and the fake accepts only that provider's real path, auth style
and query. So a wrong path, a doubled ``/v1``, a bare key or a missing ``api-version`` fails here.

The native translators (anthropic, gemini, vertex_ai, bedrock, cohere, watsonx, github_copilot)
speak other wire formats; their own tests drive them against fakes of those formats.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import openai
import pytest
from multidict import CIMultiDict

from llmg.providers.azure import AZURE_AI_API_VERSION, AZURE_OPENAI_API_VERSION
from llmg.providers.catalogue import load_catalogue
from tests.fakes.auth_styles import Expect, ProviderFakes, check_auth
from tests.gateway import GatewayProcess

CATALOGUE = load_catalogue()
GENERIC = {"openai_compat", "azure", "azure_ai", "embeddings_only", "unsupported"}
SERVED = sorted(name for name, spec in CATALOGUE.items() if spec.adapter in GENERIC)
CHAT = [n for n in SERVED if "chat" in CATALOGUE[n].capabilities]
STREAM = [n for n in SERVED if "stream" in CATALOGUE[n].capabilities]
EMBED = [n for n in SERVED if "embeddings" in CATALOGUE[n].capabilities]
UNSUPPORTED = [n for n in SERVED if CATALOGUE[n].adapter == "unsupported"]
EMBED_ONLY = [n for n in SERVED if CATALOGUE[n].adapter == "embeddings_only"]
# A local server started with a key must get it as Bearer; the other local ones get no header.
LOCAL_WITH_KEY = "litellm_proxy"
AZURE_DEPLOYMENTS = {"gpt-4o": "dep-chat", "text-embedding-3-small": "dep-embed"}
OPENROUTER_ENV = {"OPENROUTER_APP_NAME": "LLMG tests", "OPENROUTER_HTTP_REFERER": "https://llmg.example"}


def real_base(name: str) -> str:
    spec = CATALOGUE[name]
    base = spec.base_url or spec.base_url_template
    assert base, f"{name}: no base URL or template in the catalogue"
    return base


def expectation(name: str) -> Expect:
    spec = CATALOGUE[name]
    path = urlsplit(real_base(name)).path.rstrip("/")
    key = None if (not spec.key_required and name != LOCAL_WITH_KEY) else f"sk-{name}-secret"
    expect = Expect(name=name, auth=spec.auth, key=key, chat_path=f"{path}/chat/completions",
                    embeddings_path=f"{path}/embeddings",
                    models_path=f"{path}{spec.models_endpoint}" if spec.models_endpoint else None)
    if spec.adapter == "azure":
        expect.chat_path = f"{path}/openai/deployments/{AZURE_DEPLOYMENTS['gpt-4o']}/chat/completions"
        expect.embeddings_path = f"{path}/openai/deployments/{AZURE_DEPLOYMENTS['text-embedding-3-small']}/embeddings"
        expect.query = {"api-version": AZURE_OPENAI_API_VERSION}
    if spec.adapter == "azure_ai":
        expect.query = {"api-version": AZURE_AI_API_VERSION}
    if name == "openrouter":
        expect.headers = {"X-Title": OPENROUTER_ENV["OPENROUTER_APP_NAME"],
                          "HTTP-Referer": OPENROUTER_ENV["OPENROUTER_HTTP_REFERER"]}
    if name == "publicai":  # its gateway marks User-Agent required on every route (routes.oas.json)
        expect.present_headers = ("User-Agent",)
    return expect


def config_text(fakes: ProviderFakes, expects: dict[str, Expect]) -> str:
    ports = {e.name: port for port, e in fakes.expects.items()}
    lines = ["[server]", "upstream_timeout = 5", ""]
    for name, expect in expects.items():
        path = urlsplit(real_base(name)).path.rstrip("/")
        lines.append(f"[providers.{name}]")
        lines.append(f'base_url = "http://127.0.0.1:{ports[name]}{path}"')
        if expect.key:
            lines.append(f'api_key = "{expect.key}"')
        if CATALOGUE[name].adapter == "azure":
            pairs = ", ".join(f'"{m}" = "{d}"' for m, d in AZURE_DEPLOYMENTS.items())
            lines.append(f"params = {{ deployments = {{ {pairs} }} }}")
        lines.append("")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[ProviderFakes, GatewayProcess]]:
    fakes = ProviderFakes()
    expects = {name: expectation(name) for name in SERVED}
    for expect in expects.values():
        fakes.add(expect)
    fakes.start()
    gateway = GatewayProcess(config_text(fakes, expects), env=OPENROUTER_ENV).start()
    yield fakes, gateway
    gateway.stop()
    fakes.stop()


@pytest.fixture(scope="module")
def client(world) -> openai.OpenAI:
    return openai.OpenAI(base_url=world[1].base_url, api_key=world[1].token, max_retries=0, timeout=10)


def chat_model(name: str) -> str:
    return f"{name}/gpt-4o" if CATALOGUE[name].adapter == "azure" else f"{name}/test-model"


def embed_model(name: str) -> str:
    return f"{name}/text-embedding-3-small" if CATALOGUE[name].adapter == "azure" else f"{name}/embed-model"


def test_every_original_prefix_is_exercised_or_native():
    natives = {n for n, s in CATALOGUE.items() if s.adapter not in GENERIC}
    assert natives <= {"mock", "anthropic", "gemini", "vertex_ai", "bedrock", "cohere", "watsonx", "github_copilot"}
    assert len(SERVED) + len(natives) == len(CATALOGUE)


@pytest.mark.parametrize("name", SERVED)
def test_chat_routes(world, client, name):
    fakes, _ = world
    before = len(fakes.received(name))
    messages = [{"role": "user", "content": f"hello {name}"}]
    if name in UNSUPPORTED:
        with pytest.raises(openai.APIStatusError) as info:
            client.chat.completions.create(model=f"{name}/anything", messages=messages)
        error = info.value.response.json()["error"]
        assert info.value.status_code == 501
        assert error["type"] == "not_supported" and error["code"] == "not_supported"
        assert CATALOGUE[name].offers and CATALOGUE[name].offers[:40] in error["message"]
        assert len(fakes.received(name)) == before  # nothing was sent upstream
        return
    if name in EMBED_ONLY:
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model=f"{name}/anything", messages=messages)
        error = info.value.response.json()["error"]
        assert "embeddings only" in error["message"] and "/v1/embeddings" in error["message"]
        assert len(fakes.received(name)) == before
        return
    reply = client.chat.completions.create(model=chat_model(name), messages=messages)
    assert reply.choices[0].message.content == f"echo: hello {name}"
    sent = fakes.received(name)[-1]
    assert sent.path == fakes_expect(fakes, name).chat_path
    assert sent.json()["model"] == chat_model(name).split("/", 1)[1]


@pytest.mark.parametrize("name", STREAM)
def test_stream_routes(world, client, name):
    stream = client.chat.completions.create(
        model=chat_model(name), messages=[{"role": "user", "content": f"stream {name}"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == f"echo: stream {name}"
    sent = world[0].received(name)[-1]
    assert sent.json()["stream"] is True and sent.headers.get("accept") == "text/event-stream"


@pytest.mark.parametrize("name", EMBED)
def test_embeddings_route(world, client, name):
    result = client.embeddings.create(model=embed_model(name), input=["a", "b"], encoding_format="float")
    assert [d.embedding for d in result.data] == [[0.25, -0.5, 0.0], [0.25, -0.5, 1.0]]
    sent = world[0].received(name)[-1]
    assert sent.path == fakes_expect(world[0], name).embeddings_path


@pytest.mark.parametrize("name", UNSUPPORTED)
def test_unsupported_embeddings_and_stream_are_501(world, name):
    gateway = world[1]
    for path, body in (
        ("/v1/embeddings", {"model": f"{name}/x", "input": "hi"}),
        ("/v1/chat/completions", {"model": f"{name}/x", "stream": True, "messages": [{"role": "user", "content": "hi"}]}),
    ):
        r = httpx.post(f"{gateway.url}{path}", headers=gateway.auth, json=body, timeout=5)
        assert r.status_code == 501, r.text
        assert r.json()["error"]["type"] == "not_supported"
    assert world[0].received(name) == []


def test_keys_never_leak_into_errors(world):
    fakes, gateway = world
    r = httpx.post(f"{gateway.url}/v1/chat/completions", headers=gateway.auth, timeout=5,
                   json={"model": "deepinfra/x", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200
    assert "sk-deepinfra-secret" not in gateway.output()


def test_models_lists_each_provider_models_endpoint(world):
    fakes, gateway = world
    listed: set[str] = set()
    wanted = {f"{e.name}/{m}" for e in fakes.expects.values() if e.models_path for m in e.models}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        r = httpx.get(f"{gateway.url}/v1/models", headers=gateway.auth, timeout=5)
        listed = {m["id"] for m in r.json()["data"]}
        if wanted <= listed:
            break
        time.sleep(0.3)
    assert wanted <= listed, sorted(wanted - listed)
    assert not any(m.startswith(tuple(f"{n}/" for n in UNSUPPORTED)) for m in listed)


def fakes_expect(fakes: ProviderFakes, name: str) -> Expect:
    return next(e for e in fakes.expects.values() if e.name == name)


@pytest.mark.parametrize(
    "auth,key,headers,ok",
    [
        ("bearer", "k1", {"Authorization": "Bearer k1"}, True),
        ("bearer", "k1", {"Authorization": "k1"}, False),  # the original's bare-key bug
        ("bearer", "k1", {"Authorization": "Bearer k2"}, False),
        ("bearer", "k1", {}, False),
        ("api-key", "k1", {"api-key": "k1"}, True),
        ("api-key", "k1", {"api-key": "k1", "Authorization": "Bearer k1"}, False),
        ("api-key", "k1", {"Authorization": "Bearer k1"}, False),
        ("bearer", None, {}, True),  # a local server without a key
        ("bearer", None, {"Authorization": "Bearer k1"}, False),
    ],
)
def test_the_fakes_reject_what_the_real_apis_reject(auth, key, headers, ok):
    expect = Expect(name="p", auth=auth, key=key, chat_path="/v1/chat/completions", embeddings_path="/v1/embeddings")
    denied = check_auth(expect, CIMultiDict(headers))
    assert (denied is None) == ok
    if denied is not None:
        assert denied.status == 401


@pytest.mark.parametrize("name", EMBED_ONLY)
def test_embeddings_only_refuses_streamed_chat_too(world, name):
    gateway = world[1]
    r = httpx.post(f"{gateway.url}/v1/chat/completions", headers=gateway.auth, timeout=5,
                   json={"model": f"{name}/x", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/json")
    assert r.json()["error"]["code"] == "model_not_chat_capable"
    assert all(req.path.endswith("/embeddings") or req.path.endswith("/models") for req in world[0].received(name))
