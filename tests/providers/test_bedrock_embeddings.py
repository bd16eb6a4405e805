"""Bedrock embeddings through the real gateway: OpenAI's /v1/embeddings -> InvokeModel for the Titan
Text Embeddings and Cohere Embed models, against the fake's strict InvokeModel bodies (one
``inputText`` per Titan call, ``input_type`` required for Cohere, their ValidationExceptions)."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator

import httpx
import msgspec
import openai
import pytest

from llmg.config import ConfigError, parse
from llmg.providers.registry import plan
from llmg.sigv4 import Signer
from tests.fakes import bedrock_upstream
from tests.fakes.bedrock_upstream import embedding_vector
from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess
from tests.providers.test_bedrock import ACCESS, CLEAN_ENV, REGION, SECRET, _config

TITAN = "amazon.titan-embed-text-v2:0"
COHERE = "cohere.embed-english-v3"
BEARER = "ABSKfakeBedrockApiKey0123456789"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeServer]:
    server = bedrock_upstream.start({ACCESS: (SECRET, None), f"bearer:{BEARER}": ("", None)}, REGION)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(fake: FakeServer) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(_config(fake), env=CLEAN_ENV).start()
    yield gw
    gw.stop()


@pytest.fixture
def client(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0, timeout=20)


def invokes(fake: FakeServer) -> list:
    return [r for r in fake.requests if r.path.endswith("/invoke")]


def test_titan_batch_is_one_signed_invoke_per_input_bounded_and_in_order(client, fake):
    texts = [f"document number {n} about rivers" for n in range(20)]
    fake.clear()
    fake.events.pop("invoke_peak", None)
    reply = client.embeddings.create(model=f"bedrock/{TITAN}", input=texts, dimensions=256)
    assert [d.index for d in reply.data] == list(range(20))
    for text, item in zip(texts, reply.data):
        assert item.embedding == pytest.approx(embedding_vector(text, 256), abs=1e-6)
    assert reply.model == TITAN
    assert reply.usage.prompt_tokens == reply.usage.total_tokens == sum(len(t.split()) + 1 for t in texts)
    sent = invokes(fake)
    assert len(sent) == 20 and all(r.path == f"/model/{TITAN}/invoke" for r in sent)
    assert all(r.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS}/") for r in sent)
    assert sorted(r.json()["inputText"] for r in sent) == sorted(texts)
    assert all(r.json() == {"inputText": r.json()["inputText"], "normalize": True, "dimensions": 256} for r in sent)
    assert 2 <= fake.events["invoke_peak"] <= 8  # concurrent, never more than params.embed_concurrency


def test_titan_single_input_and_base64(client, fake):
    fake.clear()
    reply = client.embeddings.create(model=f"bedrock/{TITAN}", input="one text", encoding_format="base64")
    raw = base64.b64decode(reply.data[0].embedding) if isinstance(reply.data[0].embedding, str) else None
    # The SDK decodes base64 itself when it asked for it; either way the vector is the fake's.
    vector = list(struct.unpack(f"<{len(raw) // 4}f", raw)) if raw else reply.data[0].embedding
    assert vector == pytest.approx(embedding_vector("one text", 1024), abs=1e-5)
    assert invokes(fake)[0].json() == {"inputText": "one text", "normalize": True}


def test_cohere_batch_with_input_type_and_usage_from_the_header(gateway, fake):
    fake.clear()
    texts = [f"q{n}" for n in range(100)]  # more than Cohere's 96 per call
    answer = httpx.post(f"{gateway.url}/v1/embeddings", headers=gateway.auth, timeout=20,
                        json={"model": f"bedrock/{COHERE}", "input": texts, "input_type": "search_query"}).json()
    assert [d["index"] for d in answer["data"]] == list(range(100))
    assert answer["data"][99]["embedding"] == pytest.approx(embedding_vector("search_query:q99", 1024), abs=1e-6)
    assert answer["usage"] == {"prompt_tokens": 200, "total_tokens": 200}  # X-Amzn-Bedrock-Input-Token-Count, summed
    sent = [r.json() for r in invokes(fake)]
    assert [len(b["texts"]) for b in sent] == [96, 4]
    assert sent[0] == {"texts": texts[:96], "input_type": "search_query", "embedding_types": ["float"]}
    default = httpx.post(f"{gateway.url}/v1/embeddings", headers=gateway.auth, timeout=20,
                         json={"model": f"bedrock/{COHERE}", "input": "doc"})
    assert default.status_code == 200 and invokes(fake)[-1].json()["input_type"] == "search_document"


@pytest.mark.parametrize("body,status,needle", [
    ({"model": f"bedrock/{TITAN}", "input": "x", "dimensions": 100}, 400, "#/dimensions: 100 is not a valid enum value"),
    ({"model": f"bedrock/{TITAN}", "input": ["ok", ""]}, 400, "#/inputText: expected minLength: 1"),
    ({"model": f"bedrock/{COHERE}", "input": "x", "dimensions": 256}, 400, "fixed embedding size"),
    ({"model": f"bedrock/{COHERE}", "input": "x", "input_type": "poem"}, 400, "input_type must be one of"),
    ({"model": f"bedrock/{COHERE}", "input": ["x" * 2049]}, 400, "#/texts/0: expected maxLength: 2048"),
    ({"model": "bedrock/meta.llama3-1-70b-instruct-v1:0", "input": "x"}, 400, "Titan Text Embeddings and Cohere Embed"),
    ({"model": f"bedrock/{TITAN}", "input": [[1, 2, 3]]}, 400, "not token ids"),
])
def test_bad_embeddings_requests_are_clear_400s(gateway, body, status, needle):
    answer = httpx.post(f"{gateway.url}/v1/embeddings", headers=gateway.auth, json=body, timeout=20)
    assert answer.status_code == status, answer.text
    assert needle in answer.json()["error"]["message"]


def test_bearer_api_key_reaches_invoke(start_gateway, fake):
    gw = start_gateway(f"""
[providers.bedrock]
base_url = "{fake.url}"
timeout = 5
params = {{ region = "{REGION}", bearer_token = "{BEARER}", embed_concurrency = 1 }}
""", env=CLEAN_ENV)
    fake.clear()
    fake.events.pop("invoke_peak", None)
    answer = httpx.post(f"{gw.url}/v1/embeddings", headers=gw.auth, timeout=20,
                        json={"model": f"bedrock/{TITAN}", "input": ["a", "b", "c"]})
    assert answer.status_code == 200, answer.text
    assert {r.headers["authorization"] for r in invokes(fake)} == {f"Bearer {BEARER}"}
    assert fake.events["invoke_peak"] == 1  # embed_concurrency = 1: one call at a time


def _signed_post_factory(fake: FakeServer):
    signer = Signer(ACCESS, SECRET, REGION, "bedrock")

    def post(model: str, operation: str, body: dict) -> httpx.Response:
        path, raw = f"/model/{model}/{operation}", msgspec.json.encode(body)
        headers = signer.sign("POST", f"127.0.0.1:{fake.port}", path, raw, headers={"content-type": "application/json"})
        return httpx.post(f"{fake.url}{path}", headers=headers, content=raw)

    return post


def test_fake_invoke_is_strict(fake):
    post = _signed_post_factory(fake)
    answer = post(COHERE, "invoke", {"texts": ["a"]})
    assert answer.status_code == 400 and answer.headers["x-amzn-ErrorType"].startswith("ValidationException:")
    assert answer.json()["message"] == ("Malformed input request: #: required key [input_type] not found, "
                                        "please reformat your input and try again.")
    assert post(TITAN, "invoke", {"inputText": "a", "texts": ["b"]}).json()["message"].startswith(
        "Malformed input request: #: extraneous key [texts] is not permitted")


@pytest.mark.parametrize("params,needle", [("embed_concurrency = 0", "embed_concurrency"), ('input_type = "poem"', "input_type")])
def test_embedding_settings_are_checked(fake, params, needle):
    with pytest.raises(ConfigError, match=needle):
        plan(parse(f'[providers.bedrock]\napi_key = "{ACCESS}"\nparams = {{ secret_access_key = "s", {params} }}\n', "t", {}), {})
