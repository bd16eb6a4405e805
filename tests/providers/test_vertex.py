"""Vertex AI: the Gemini translator on the regional endpoint with a service-account OAuth token.

The fake token endpoint verifies the RS256 assertion with the public half of a key generated here
(never stored in the repo) and counts exchanges, so token caching and single-flight refresh are
measured, not assumed."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import httpx
import openai
import pytest

from llmg.config import ConfigError, parse
from llmg.providers.registry import plan
from llmg.providers.vertex_ai import host_for
from tests.fakes import gemini_upstream
from tests.fakes.gemini_upstream import SIGNATURE, TOOL_ARGS, VertexAccount
from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess

PROJECT = "test-project"
LOCATION = "europe-west4"
ARGS_JSON = json.dumps(TOOL_ARGS, separators=(",", ":"), ensure_ascii=False)
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x01" * 8).decode()
TOOL = {"type": "function", "function": {"name": "lookup", "description": "Look something up",
                                         "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}
EXCHANGES = "token_exchanges"


def start_vertex_fake(tmp_path: Path, **account_options) -> tuple[FakeServer, Path, VertexAccount]:
    account = VertexAccount(project=PROJECT, location=LOCATION, **account_options)
    server = FakeServer(gemini_upstream.make_app(vertex=account))
    info, public_key = gemini_upstream.make_service_account(f"{server.url}/token", PROJECT)
    account.public_key, account.client_email = public_key, info["client_email"]
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps(info))
    return server.start(), key_file, account


def vertex_config(fake: FakeServer, key_file: Path, extra: str = "") -> str:
    return f"""
[providers.vertex_ai]
base_url = "{fake.url}"
timeout = 5
params = {{ credentials_file = "{key_file}", location = "{LOCATION}" {extra} }}
"""


@pytest.fixture(scope="module")
def vertex(tmp_path_factory):
    fake, key_file, _ = start_vertex_fake(tmp_path_factory.mktemp("vertex"))
    gateway = GatewayProcess(vertex_config(fake, key_file, ', allowed_gcs_buckets = ["bucket"]')).start()
    yield fake, gateway
    gateway.stop()
    fake.stop()


@pytest.fixture
def fake(vertex):
    return vertex[0]


@pytest.fixture
def client(vertex):
    gateway = vertex[1]
    return openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0)


def path_for(model: str, method: str) -> str:
    return f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{model}:{method}"


def generate_requests(fake: FakeServer) -> list:
    return [r for r in fake.requests if r.path != "/token"]


# --- answers, and the token they need -----------------------------------------------------------


def test_plain_answer_with_cached_token(client, fake):
    for word in ("one", "two", "three"):
        r = client.chat.completions.create(model="vertex_ai/gemini-2.5-flash",
                                           messages=[{"role": "system", "content": "Short."}, {"role": "user", "content": word}])
        assert r.choices[0].message.content == f"echo: {word}"
        assert r.choices[0].finish_reason == "stop"
    assert fake.events[EXCHANGES] == 1  # one token for three requests
    sent = generate_requests(fake)[-1]
    assert sent.path == path_for("gemini-2.5-flash", "generateContent")
    assert sent.headers["authorization"] == "Bearer ya29.fake-1"
    assert "x-goog-api-key" not in sent.headers
    body = sent.json()
    assert body["contents"] == [{"role": "user", "parts": [{"text": "three"}]}]
    assert body["systemInstruction"] == {"parts": [{"text": "Short."}]}
    token_request = next(r for r in fake.requests if r.path == "/token")
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"


def test_streamed_answer(client, fake):
    chunks = list(client.chat.completions.create(model="vertex_ai/gemini-2.5-flash", stream=True,
                                                 stream_options={"include_usage": True},
                                                 messages=[{"role": "user", "content": "stream this to me"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: stream this to me"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage.total_tokens > 0
    sent = generate_requests(fake)[-1]
    assert sent.path == path_for("gemini-2.5-flash", "streamGenerateContent") and sent.query == {"alt": "sse"}


def test_tool_call_round_trip(client, fake):
    messages = [{"role": "user", "content": "look up llamas"}]
    first = client.chat.completions.create(model="vertex_ai/gemini-2.5-flash", messages=messages, tools=[TOOL])
    (call,) = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "lookup" and call.function.arguments == ARGS_JSON
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": '["a", "b"]'}]
    final = client.chat.completions.create(model="vertex_ai/gemini-2.5-flash", messages=messages, tools=[TOOL])
    assert final.choices[0].message.content == 'The tool said: {"output": ["a", "b"]}'
    history = generate_requests(fake)[-1].json()["contents"]
    assert history[1]["parts"][0]["thoughtSignature"] == SIGNATURE
    assert history[2] == {"role": "user", "parts": [{"functionResponse": {"name": "lookup", "response": {"output": ["a", "b"]}}}]}


def test_tool_call_round_trip_streamed(client, fake):
    messages = [{"role": "user", "content": "look up llamas"}]
    chunks = list(client.chat.completions.create(model="vertex_ai/gemini-2.5-flash", messages=messages, tools=[TOOL], stream=True))
    ids, name, args = set(), "", ""
    for chunk in chunks:
        for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            assert tc.index == 0
            if tc.id:
                ids.add(tc.id)
            name += (tc.function.name or "") if tc.function else ""
            args += (tc.function.arguments or "") if tc.function else ""
    assert len(ids) == 1 and name == "lookup" and args == ARGS_JSON
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    (call_id,) = ids
    messages += [{"role": "assistant", "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}]},
                 {"role": "tool", "tool_call_id": call_id, "content": "found 3"}]
    final = list(client.chat.completions.create(model="vertex_ai/gemini-2.5-flash", messages=messages, tools=[TOOL], stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in final if c.choices) == 'The tool said: {"output": "found 3"}'


def test_image_input(client, fake):
    r = client.chat.completions.create(model="vertex_ai/gemini-2.5-flash", messages=[{"role": "user", "content": [
        {"type": "text", "text": "describe"}, {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}])
    assert r.choices[0].message.content == "I see image/png (16 bytes)"
    r = client.chat.completions.create(model="vertex_ai/gemini-2.5-flash", messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "gs://bucket/photo.jpg"}}]}])
    assert r.choices[0].message.content == "I see image/jpeg (gs://bucket/photo.jpg)"


def test_embeddings_via_predict(client, fake):
    r = client.embeddings.create(model="vertex_ai/text-embedding-005", input=["hello world", "again"], dimensions=5)
    assert len(r.data) == 2 and len(r.data[0].embedding) == 5
    assert r.data[1].embedding == pytest.approx(gemini_upstream.vector("again", 5), abs=1e-6)
    assert r.usage.prompt_tokens == 3  # the statistics.token_count Vertex reported, summed
    sent = generate_requests(fake)[-1]
    assert sent.path == path_for("text-embedding-005", "predict")
    assert sent.json() == {"instances": [{"content": "hello world"}, {"content": "again"}], "parameters": {"outputDimensionality": 5}}


def test_gemini_embedding_001_gets_one_input_per_request(client, fake):
    # Vertex takes a single instance per :predict for gemini-embedding-001 (the fake, like the API,
    # answers 400 to more): the batch is split, run concurrently but bounded, and reassembled in order.
    texts = [f"text number {n}" for n in range(20)]
    fake.requests.clear()
    fake.events.pop("predict_peak", None)
    r = client.embeddings.create(model="vertex_ai/gemini-embedding-001", input=texts, dimensions=4)
    assert [d.index for d in r.data] == list(range(20))
    for text, item in zip(texts, r.data):
        assert item.embedding == pytest.approx(gemini_upstream.vector(text, 4), abs=1e-6)
    assert r.usage.prompt_tokens == r.usage.total_tokens == 3 * 20  # each request's token_count, summed
    sent = [q.json() for q in generate_requests(fake)]
    assert sorted(b["instances"][0]["content"] for b in sent) == sorted(texts)
    assert all(len(b["instances"]) == 1 and b["parameters"] == {"outputDimensionality": 4} for b in sent)
    assert 2 <= fake.events["predict_peak"] <= 8  # concurrent, and never more than embed_concurrency


def test_text_embedding_models_are_split_at_250_instances(client, fake):
    texts = [f"t{n}" for n in range(260)]
    fake.requests.clear()
    r = client.embeddings.create(model="vertex_ai/text-embedding-005", input=texts, dimensions=3)
    assert [len(q.json()["instances"]) for q in generate_requests(fake)] == [250, 10]
    assert r.data[259].embedding == pytest.approx(gemini_upstream.vector("t259", 3), abs=1e-6)


def test_fake_refuses_two_instances_for_gemini_embedding_001(vertex):
    fake, gateway = vertex
    token = next(iter(fake.app["tokens"]))  # one the gateway obtained in the tests above
    answer = httpx.post(fake.url + path_for("gemini-embedding-001", "predict"), headers={"Authorization": f"Bearer {token}"},
                        json={"instances": [{"content": "a"}, {"content": "b"}]})
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "1 instance(s) is allowed per prediction. Actual: 2"


def test_embed_concurrency_is_checked(tmp_path):
    fake, key_file, _ = start_vertex_fake(tmp_path)
    try:
        with pytest.raises(ConfigError, match="embed_concurrency"):
            plan(parse(vertex_config(fake, key_file, ", embed_concurrency = 0"), "t", {}), {})
    finally:
        fake.stop()


@pytest.mark.parametrize("status,expected,kind", [
    (401, 401, openai.AuthenticationError), (403, 401, openai.AuthenticationError),
    (429, 429, openai.RateLimitError), (500, 502, openai.APIStatusError),
])
def test_upstream_errors(client, status, expected, kind):
    with pytest.raises(kind) as err:
        client.chat.completions.create(model=f"vertex_ai/error-{status}", messages=[{"role": "user", "content": "x"}])
    assert err.value.status_code == expected
    if expected == 401:
        assert err.value.body["type"] == "provider_error"


def test_fake_rejects_missing_or_foreign_tokens(fake):
    url = f"{fake.url}{path_for('gemini-2.5-flash', 'generateContent')}"
    ok = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    r = httpx.post(url, json=ok)
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"
    assert httpx.post(url, json=ok, headers={"Authorization": "Bearer ya29.made-up"}).status_code == 401
    r = httpx.post(f"{fake.url}/token", data={"grant_type": gemini_upstream.JWT_BEARER, "assertion": "a.b.c"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


# --- token lifecycle -----------------------------------------------------------------------------


def test_concurrent_first_requests_share_one_exchange(tmp_path):
    fake, key_file, _ = start_vertex_fake(tmp_path, token_delay=0.5)
    gateway = GatewayProcess(vertex_config(fake, key_file)).start()
    try:
        async def burst() -> list:
            client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0)
            return await asyncio.gather(*(client.chat.completions.create(
                model="vertex_ai/gemini-2.5-flash", messages=[{"role": "user", "content": f"n{i}"}]) for i in range(8)))

        answers = asyncio.run(burst())
        assert sorted(a.choices[0].message.content for a in answers) == sorted(f"echo: n{i}" for i in range(8))
        assert fake.events[EXCHANGES] == 1
    finally:
        gateway.stop()
        fake.stop()


def test_token_refreshed_before_expiry(tmp_path):
    # A 4 s token: reused for the first 2 s, refreshed in the background until ~3 s, then waited for.
    fake, key_file, _ = start_vertex_fake(tmp_path, token_ttl=4)
    gateway = GatewayProcess(vertex_config(fake, key_file)).start()
    try:
        client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0)

        def ask() -> str:
            return client.chat.completions.create(model="vertex_ai/gemini-2.5-flash",
                                                  messages=[{"role": "user", "content": "hi"}]).choices[0].message.content

        assert ask() == "echo: hi"
        assert ask() == "echo: hi"
        assert fake.events[EXCHANGES] == 1
        time.sleep(2.3)  # inside the refresh window: answered with the old token, refresh started
        assert ask() == "echo: hi"
        deadline = time.monotonic() + 3
        while fake.events[EXCHANGES] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake.events[EXCHANGES] == 2
        # The fake counts the exchange when it answers; the gateway stores the new token a moment
        # later. Until then the old token is still valid and may be used: poll for the switch.
        deadline = time.monotonic() + 3
        while True:
            assert ask() == "echo: hi"
            if generate_requests(fake)[-1].headers["authorization"] == "Bearer ya29.fake-2":
                break
            assert time.monotonic() < deadline, "the refreshed token was never used"
            time.sleep(0.05)
        assert fake.events[EXCHANGES] == 2
        time.sleep(4.2)  # both tokens expired: the next request waits for a fresh one
        assert ask() == "echo: hi"
        assert fake.events[EXCHANGES] == 3
    finally:
        gateway.stop()
        fake.stop()


def test_signature_from_another_key_is_an_auth_failure(tmp_path):
    fake, key_file, _ = start_vertex_fake(tmp_path)
    other, _ = gemini_upstream.make_service_account(f"{fake.url}/token", PROJECT)
    info = json.loads(key_file.read_text())
    info["private_key"] = other["private_key"]  # right account, wrong key: the signature fails
    key_file.write_text(json.dumps(info))
    gateway = GatewayProcess(vertex_config(fake, key_file)).start()
    try:
        client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0)
        with pytest.raises(openai.AuthenticationError) as err:
            client.chat.completions.create(model="vertex_ai/gemini-2.5-flash", messages=[{"role": "user", "content": "x"}])
        assert err.value.body == {"message": "Authentication failed", "type": "provider_error", "param": None,
                                  "code": "provider_auth_failed"}
        assert "PRIVATE KEY" not in gateway.output()
        assert generate_requests(fake) == []  # nothing reached Vertex without a token
    finally:
        gateway.stop()
        fake.stop()


def test_missing_credentials_file_stops_start_up_cleanly(tmp_path):
    gateway = GatewayProcess(f"""
[providers.vertex_ai]
params = {{ credentials_file = "{tmp_path}/nope.json", project = "p1" }}
""")
    with pytest.raises(RuntimeError) as err:
        gateway.start()
    output = str(err.value)
    assert "providers.vertex_ai.params.credentials_file: cannot read credentials file" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("params,message", [
    ('location = "us central1"', "providers.vertex_ai.params.location: 'us central1' is not a valid Google Cloud location name"),
    ('project = "../admin"', "providers.vertex_ai.params.project: '../admin' is not a valid Google Cloud project name"),
])
def test_bad_project_or_location_is_a_config_error(tmp_path, params, message):
    info, _ = gemini_upstream.make_service_account("http://127.0.0.1:9/token", PROJECT)
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(info))
    with pytest.raises(ConfigError) as err:
        plan(parse(f'[providers.vertex_ai]\nparams = {{ credentials_file = "{key_file}", {params} }}\n', "t", {}), {})
    assert message in str(err.value)


def test_key_file_with_a_non_rsa_key_is_a_config_error(tmp_path):
    # A valid PEM of another kind loaded, and the first token exchange died signing the RS256 JWT.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    bad = tmp_path / "ec.json"
    bad.write_text(json.dumps({"type": "service_account", "client_email": "a@b", "private_key": pem}))
    with pytest.raises(ConfigError, match="credentials_file"):  # refused at plan time, not at the first token
        plan(parse(f'[providers.vertex_ai]\nparams = {{ credentials_file = "{bad}", project = "p1" }}\n', "t", {}), {})


def test_key_file_without_private_key_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "service_account", "client_email": "a@b", "private_key": "not a pem"}))
    with pytest.raises(ConfigError, match="private_key is not a usable PEM RSA key"):
        plan(parse(f'[providers.vertex_ai]\nparams = {{ credentials_file = "{bad}", project = "p1" }}\n', "t", {}), {})


def test_project_and_location_from_params_and_env(start_gateway, tmp_path):
    fake, key_file, account = start_vertex_fake(tmp_path)
    account.project = "env-project"
    try:
        gateway = start_gateway(f"""
[providers.vertex_ai]
base_url = "{fake.url}"
params = {{ credentials_file = "{key_file}" }}
""", env={"GOOGLE_CLOUD_LOCATION": LOCATION, "GOOGLE_CLOUD_PROJECT": "env-project"})
        client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0)
        # The key file's project_id wins over $GOOGLE_CLOUD_PROJECT; the fake only knows env-project.
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model="vertex_ai/gemini-2.5-flash", messages=[{"role": "user", "content": "x"}])
        assert generate_requests(fake)[-1].path == path_for("gemini-2.5-flash", "generateContent")
    finally:
        fake.stop()


def test_hosts_for_locations():
    assert host_for("us-central1") == "https://us-central1-aiplatform.googleapis.com"
    assert host_for("global") == "https://aiplatform.googleapis.com"
    assert host_for("eu") == "https://aiplatform.eu.rep.googleapis.com"


def test_authorized_user_credentials(start_gateway, tmp_path):
    fake, _, account = start_vertex_fake(tmp_path)
    user_file = tmp_path / "adc.json"
    user_file.write_text(json.dumps({"type": "authorized_user", "client_id": account.client_id,
                                     "client_secret": account.client_secret, "refresh_token": account.refresh_token,
                                     "token_uri": f"{fake.url}/token"}))
    try:
        # google-auth sends user credentials to Google's endpoint whatever the file says: the
        # config's token_url is the only way to move it (here, to the fake).
        gateway = start_gateway(vertex_config(fake, user_file, f', project = "{PROJECT}", token_url = "{fake.url}/token"'))
        client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0)
        for _ in range(2):
            r = client.chat.completions.create(model="vertex_ai/gemini-2.5-flash", messages=[{"role": "user", "content": "adc"}])
            assert r.choices[0].message.content == "echo: adc"
        assert fake.events[EXCHANGES] == 1
        token_form = next(r for r in fake.requests if r.path == "/token").body.decode()
        assert "grant_type=refresh_token" in token_form
        assert "fake-refresh-token" not in gateway.output() and "fake-client-secret" not in gateway.output()
    finally:
        fake.stop()


def test_token_endpoint_outage_is_not_cached(start_gateway, tmp_path):
    # google-auth retries a 503 from the token endpoint inside one refresh (3 tries); an outage
    # longer than that is a 502, and it is not cached: the next request refreshes again.
    fake, key_file, _ = start_vertex_fake(tmp_path, token_failures=3)
    try:
        gateway = start_gateway(vertex_config(fake, key_file))
        client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0, timeout=30)
        with pytest.raises(openai.APIStatusError) as err:
            client.chat.completions.create(model="vertex_ai/gemini-2.5-flash", messages=[{"role": "user", "content": "x"}])
        assert err.value.status_code == 502 and err.value.body["type"] == "provider_error"
        r = client.chat.completions.create(model="vertex_ai/gemini-2.5-flash", messages=[{"role": "user", "content": "x"}])
        assert r.choices[0].message.content == "echo: x"
        assert fake.events[EXCHANGES] == 4
    finally:
        fake.stop()
