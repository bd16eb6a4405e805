"""Upstream failures map to the documented statuses; no secret ever reaches a client or a log."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.server import free_port

SECRET = "sk-very-secret-provider-key-123"


def chat(gateway, model: str, **extra):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}
    return httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=gateway.auth, timeout=15)


@pytest.fixture(scope="module")
def gateway(openai_fake):
    from tests.gateway import GatewayProcess

    dead = free_port()  # nothing listens here
    process = GatewayProcess(f"""
[providers.openai]
api_key = "sk-fake-openai"
base_url = "{openai_fake.url}/v1"
timeout = 1

[providers.wrongkey]
api_key = "{SECRET}"
base_url = "{openai_fake.url}/v1"

[providers.dead]
api_key = "{SECRET}"
base_url = "http://127.0.0.1:{dead}/v1"
""").start()
    yield process
    process.stop()


def envelope(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert {"message", "type", "param", "code"} <= set(body["error"])
    return body["error"]


@pytest.mark.parametrize(
    ("model", "status", "type_"),
    [
        ("openai/error-400", 400, "invalid_request_error"),
        ("openai/error-404", 404, "invalid_request_error"),
        ("openai/error-401", 401, "provider_error"),
        ("openai/error-429", 429, "requests"),  # OpenAI's own type for a rate limit, kept
        ("openai/error-500", 502, "provider_error"),
        ("openai/error-503", 502, "provider_error"),
    ],
)
def test_upstream_status_mapping(gateway, model, status, type_) -> None:
    response = chat(gateway, model)
    assert response.status_code == status
    assert envelope(response)["type"] == type_


def test_upstream_4xx_message_kept(gateway) -> None:
    response = chat(gateway, "openai/error-400")
    assert envelope(response)["message"] == "fake upstream error 400"  # not edited: the provider is in a header
    assert response.headers["x-llmg-provider"] == "openai"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("model", "status", "expected"),
    [
        ("openai/error-context", 400, {"type": "invalid_request_error", "code": "context_length_exceeded",
                                       "param": "messages"}),
        ("openai/error-quota", 429, {"type": "insufficient_quota", "code": "insufficient_quota", "param": None}),
        ("openai/error-filter", 400, {"type": "invalid_request_error", "code": "content_filter", "param": "prompt"}),
        ("openai/error-429", 429, {"type": "requests", "code": "rate_limit_exceeded", "param": None}),
    ],
)
def test_openai_format_upstream_error_kept_field_by_field(gateway, openai_fake, model, status, expected, stream) -> None:
    from tests.fakes.openai_upstream import NAMED_ERRORS

    response = chat(gateway, model, stream=stream)
    assert response.status_code == status
    error = envelope(response)
    assert {key: error[key] for key in expected} == expected
    name = model.split("/", 1)[1]
    if name in NAMED_ERRORS:
        assert error["message"] == NAMED_ERRORS[name][1]
    assert response.headers["x-llmg-provider"] == "openai"


def test_upstream_5xx_names_provider_in_header(gateway) -> None:
    response = chat(gateway, "openai/error-500")
    assert response.status_code == 502
    assert response.headers["x-llmg-provider"] == "openai"
    assert not envelope(response)["message"].startswith("openai:")


def test_provider_key_rejected_is_authentication_failed(gateway) -> None:
    response = chat(gateway, "wrongkey/gpt-4o")
    assert response.status_code == 401
    error = envelope(response)
    assert (error["message"], error["type"]) == ("Authentication failed", "provider_error")
    assert SECRET not in response.text


def test_upstream_timeout_is_504(gateway) -> None:
    response = chat(gateway, "openai/slow-3")
    assert response.status_code == 504
    assert envelope(response)["type"] == "timeout_error"


def test_dead_upstream_is_502_without_secrets(gateway) -> None:
    for stream in (False, True):
        response = chat(gateway, "dead/gpt-4o", stream=stream)
        assert response.status_code == 502
        assert envelope(response)["type"] == "provider_error"
        assert SECRET not in response.text and "127.0.0.1" not in response.text


def test_secrets_never_logged(gateway) -> None:
    chat(gateway, "wrongkey/gpt-4o")
    chat(gateway, "dead/gpt-4o")
    assert SECRET not in gateway.output()


def test_request_id_echoed_or_generated(gateway) -> None:
    mine = httpx.get(f"{gateway.url}/health", headers={"x-request-id": "trace-abc.123"})
    assert mine.headers["x-request-id"] == "trace-abc.123"
    fresh = httpx.get(f"{gateway.url}/health")
    assert len(fresh.headers["x-request-id"]) == 32
    hostile = httpx.get(f"{gateway.url}/health", headers={"x-request-id": "a b<script>"})
    assert hostile.headers["x-request-id"] != "a b<script>"
    for path, method in (("/nope", "GET"), ("/v1/chat/completions", "GET")):
        response = httpx.request(method, f"{gateway.url}{path}", headers=gateway.auth)
        assert response.headers["x-request-id"]


def test_unknown_route_and_wrong_method(gateway) -> None:
    missing = httpx.get(f"{gateway.url}/v2/nothing", headers=gateway.auth)
    assert missing.status_code == 404
    assert envelope(missing)["type"] == "invalid_request_error"
    wrong = httpx.get(f"{gateway.url}/v1/chat/completions", headers=gateway.auth)
    assert wrong.status_code == 405
    assert envelope(wrong)
    assert "POST" in wrong.headers["allow"]


def test_non_json_success_is_502(gateway) -> None:
    response = chat(gateway, "openai/html-200")
    assert response.status_code == 502
    assert "non-JSON" in envelope(response)["message"]


def test_stream_request_answered_without_streaming_is_502(gateway) -> None:
    response = chat(gateway, "openai/json-stream", stream=True)
    assert response.status_code == 502
    assert envelope(response)["type"] == "provider_error"
