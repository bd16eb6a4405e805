"""Issue 9 item 10: Vertex reads gs:// objects with the gateway's identity, so a client's gs://
URI is refused (400) unless its bucket is in providers.vertex_ai.params.allowed_gcs_buckets."""

from __future__ import annotations

import json

import httpx
import pytest

from llmg.config import ConfigError, parse
from llmg.providers.registry import plan
from tests.fakes import gemini_upstream
from tests.gateway import GatewayProcess
from tests.providers.test_vertex import start_vertex_fake, vertex_config

MODEL = "vertex_ai/gemini-2.5-flash"


@pytest.fixture(scope="module")
def vertex(tmp_path_factory):
    fake, key_file, _ = start_vertex_fake(tmp_path_factory.mktemp("gcs"))
    gateway = GatewayProcess(vertex_config(fake, key_file, ', allowed_gcs_buckets = ["team-media"]')).start()
    yield fake, gateway
    gateway.stop()
    fake.stop()


def image(url: str) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]}


def post(gateway: GatewayProcess, body: dict | bytes) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{gateway.url}/v1/chat/completions", content=raw, timeout=15,
                      headers={**gateway.auth, "content-type": "application/json"})


def generate_calls(fake) -> int:
    return sum(1 for r in fake.requests if ":generateContent" in r.path or ":streamGenerateContent" in r.path)


@pytest.mark.parametrize("body", [
    image("gs://other-bucket/secret.jpg"),
    {**image("gs://other-bucket/secret.jpg"), "stream": True},
    {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "gs://other-bucket/report.pdf"}}]}]},
    image("gs://team-media.evil/x.jpg"),
])
def test_gs_uri_outside_the_allow_list_is_refused(vertex, body):
    fake, gateway = vertex
    before = generate_calls(fake)
    r = post(gateway, body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "gcs_uri_not_allowed"
    assert generate_calls(fake) == before  # nothing reached Vertex


def test_upper_case_scheme_is_not_sent_either(vertex):
    fake, gateway = vertex
    before = generate_calls(fake)
    assert post(gateway, image("GS://other-bucket/secret.jpg")).status_code == 400
    assert generate_calls(fake) == before


def test_json_escapes_do_not_slip_past(vertex):
    fake, gateway = vertex
    raw = b'{"model":"' + MODEL.encode() + b'","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"\\u0067s:\\/\\/other-bucket/x.jpg"}}]}]}'
    r = post(gateway, raw)
    assert r.status_code == 400 and r.json()["error"]["code"] == "gcs_uri_not_allowed"


def test_allow_listed_bucket_is_served(vertex):
    _, gateway = vertex
    r = post(gateway, image("gs://team-media/photo.jpg"))
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "I see image/jpeg (gs://team-media/photo.jpg)"


def test_no_allow_list_refuses_every_gs_uri(start_gateway, tmp_path):
    fake, key_file, _ = start_vertex_fake(tmp_path)
    try:
        gateway = start_gateway(vertex_config(fake, key_file))
        r = post(gateway, image("gs://bucket/photo.jpg"))
        assert r.status_code == 400 and r.json()["error"]["code"] == "gcs_uri_not_allowed"
        assert post(gateway, image("https://example.com/photo.jpg")).status_code == 200  # other URLs unchanged
    finally:
        fake.stop()


def test_allow_list_must_be_bucket_names(tmp_path):
    info, _ = gemini_upstream.make_service_account("http://127.0.0.1:9/token", "p1")
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(info))
    with pytest.raises(ConfigError, match="allowed_gcs_buckets"):
        plan(parse(f'[providers.vertex_ai]\nparams = {{ credentials_file = "{key_file}", allowed_gcs_buckets = "b" }}\n', "t", {}), {})
