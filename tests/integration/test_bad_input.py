"""Bad input gets the documented 4xx in the error envelope, and none of it reaches the provider.

One gateway (real subprocess) with the fake OpenAI upstream behind ``openai/`` and a small body limit.
Every test checks the status, the envelope, ``x-request-id``, and that the fake upstream received
nothing (``openai_fake.requests`` did not grow) - except the one case that must pass through.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess

MAX_BODY = 4096
CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def gateway(openai_fake: FakeServer) -> Iterator[GatewayProcess]:
    process = GatewayProcess(f"""
[server]
max_body_bytes = {MAX_BODY}

[providers.mock]

[providers.openai]
api_key = "sk-fake-openai"
base_url = "{openai_fake.url}/v1"
timeout = 5
""").start()
    yield process
    log = process.output()
    process.stop()
    assert "Traceback" not in log, log  # bad input is never an unhandled exception


@pytest.fixture
def upstream(openai_fake: FakeServer) -> Iterator[FakeServer]:
    """The fake upstream; the test fails if it received a request the test did not expect."""
    before = len(openai_fake.requests)
    openai_fake.expected = 0  # type: ignore[attr-defined]
    yield openai_fake
    # The gateway's background model-list refresh (GET /v1/models) is not a client request.
    received = [r for r in openai_fake.requests[before:] if r.path != "/v1/models"]
    assert len(received) == openai_fake.expected, [(r.method, r.path, r.body[:200]) for r in received]  # type: ignore[attr-defined]


def post(gateway: GatewayProcess, content: bytes, path: str = CHAT, content_type: str | None = "application/json",
         headers: dict[str, str] | None = None) -> httpx.Response:
    sent = {**gateway.auth, **(headers or {})}
    if content_type is not None:
        sent["Content-Type"] = content_type
    return httpx.post(f"{gateway.url}{path}", content=content, headers=sent, timeout=10)


def post_json(gateway: GatewayProcess, body: object, path: str = CHAT) -> httpx.Response:
    return httpx.post(f"{gateway.url}{path}", json=body, headers=gateway.auth, timeout=10)


def error(response: httpx.Response, status: int, param: str | None = None, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("x-request-id")
    body = response.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"]
    assert "Traceback" not in err["message"]
    if status < 500:
        assert err["type"] in ("invalid_request_error", "authentication_error")
    if param is not None:
        assert err["param"] == param, err
    if code is not None:
        assert err["code"] == code, err
    return err


def chat_body(model: str = "openai/gpt-4o", **extra: object) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


# --- malformed bodies ----------------------------------------------------------------------------


def test_malformed_json(gateway, upstream) -> None:
    err = error(post(gateway, b'{"model": "openai/gpt-4o", "messages": [{"role": "user"'), 400, code="invalid_json")
    assert "not valid JSON" in err["message"]


def test_json_that_is_not_an_object(gateway, upstream) -> None:
    err = error(post(gateway, b'[{"model": "openai/gpt-4o"}]'), 400)
    assert "Expected `object`, got `array`" in err["message"]


def test_wrong_types(gateway, upstream) -> None:
    err = error(post_json(gateway, chat_body(temperature="hot")), 400, param="temperature", code="invalid_type")
    assert "got `str`" in err["message"]
    error(post_json(gateway, {"model": "openai/gpt-4o", "messages": "hi"}), 400, param="messages")
    error(post_json(gateway, chat_body(max_tokens=0)), 400, param="max_tokens")  # out of range is a wrong value too


def test_missing_required_fields(gateway, upstream) -> None:
    error(post_json(gateway, {"model": "openai/gpt-4o"}), 400, param="messages", code="missing_required_parameter")
    error(post_json(gateway, {"messages": [{"role": "user", "content": "hi"}]}), 400, param="model",
          code="missing_required_parameter")
    error(post_json(gateway, {"model": "openai/text-embedding-3-small"}, "/v1/embeddings"), 400, param="input",
          code="missing_required_parameter")


def test_empty_messages(gateway, upstream) -> None:
    err = error(post_json(gateway, {"model": "openai/gpt-4o", "messages": []}), 400, param="messages")
    assert "length >= 1" in err["message"]


def test_invalid_utf8(gateway, upstream) -> None:
    body = b'{"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "caf\xe9 \xff"}]}'
    err = error(post(gateway, body), 400, code="invalid_json")
    assert "UTF-8" in err["message"]


def test_stream_that_is_not_a_boolean(gateway, upstream) -> None:
    for value in ("true", 1, 0, "false", [], {}):
        error(post_json(gateway, chat_body(stream=value)), 400, param="stream", code="invalid_type")


# --- what passes through -------------------------------------------------------------------------


def test_extra_unknown_fields_are_accepted_and_passed_through(gateway, upstream) -> None:
    extra = {"service_tier": "flex", "x_vendor": {"nested": [1, 2.5, None, "é"]}, "prediction": {"type": "content"}}
    upstream.expected = 1
    response = post_json(gateway, chat_body(**extra))
    assert response.status_code == 200, response.text
    sent = upstream.requests[-1].json()
    assert {k: sent[k] for k in extra} == extra
    assert sent["model"] == "gpt-4o"  # only the model is rewritten


# --- size limits ---------------------------------------------------------------------------------


def test_body_over_the_limit_is_413_before_it_is_read(gateway, upstream) -> None:
    error(post_json(gateway, chat_body(padding="x" * MAX_BODY)), 413, code="body_too_large")
    # Announce 50 MB but send only the first kilobyte: the answer must come without the rest.
    head = (f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {gateway.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {50_000_000}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(head + b'{"model": "openai/gpt-4o", "padding": "' + b"x" * 1000)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"x-request-id:" in answer.lower()


def test_oversized_header(gateway, upstream) -> None:
    response = httpx.post(f"{gateway.url}{CHAT}", json=chat_body(),
                          headers={**gateway.auth, "X-Padding": "a" * 100_000}, timeout=10)
    err = error(response, 431, code="header_too_large")
    assert err["message"] == "Request header fields too large"


# --- content type --------------------------------------------------------------------------------


def test_wrong_content_type(gateway, upstream) -> None:
    body = b'{"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]}'
    error(post(gateway, body, content_type="text/plain"), 415, code="unsupported_media_type")
    error(post(gateway, body, content_type="application/x-www-form-urlencoded"), 415)


def test_missing_content_type(gateway, upstream) -> None:
    body = b'{"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]}'
    error(post(gateway, body, content_type=None), 415, code="unsupported_media_type")


# --- models --------------------------------------------------------------------------------------


def test_unknown_provider(gateway, upstream) -> None:
    err = error(post_json(gateway, chat_body("nosuch/gpt-4o")), 404, param="model", code="unknown_provider")
    assert err["message"] == "Unknown provider: nosuch"
    error(post_json(gateway, {"model": "anthropic/claude-3-5-haiku-latest", "input": "x"}, "/v1/embeddings"), 404,
          code="unknown_provider")  # in the catalogue but not registered (no key)


def test_model_without_provider_prefix(gateway, upstream) -> None:
    err = error(post_json(gateway, chat_body("gpt-4o")), 400, param="model", code="invalid_model")
    assert "provider/model" in err["message"]


def test_unknown_model_id(gateway, upstream) -> None:
    response = httpx.get(f"{gateway.url}/v1/models/openai/no-such-model", headers=gateway.auth, timeout=10)
    error(response, 404, param="model", code="model_not_found")


@pytest.mark.parametrize(
    "model",
    [
        "openai/../v1/embeddings",
        "openai/gpt-4o/../../admin",
        "openai/..",
        "openai/gpt-4o?api-version=1",
        "openai/gpt-4o#fragment",
        "openai/gpt 4o",
        "openai/gpt-4o\r\nX-Injected: yes",
        "openai/gpt-4o\n",
        "openai/gpt-4ö",
        "openai/模型",
        "openai/gpt%2F..%2Fx",
        "openai/",
    ],
    ids=["dotdot", "dotdot-deep", "dotdot-only", "query", "fragment", "space", "crlf", "trailing-lf",
         "non-ascii", "cjk", "percent", "empty"],
)
def test_unsafe_model_names_never_reach_the_upstream(gateway, upstream, model: str) -> None:
    err = error(post_json(gateway, chat_body(model)), 400, param="model", code="invalid_model")
    assert "\r" not in err["message"] and "\n" not in err["message"]
    error(post_json(gateway, {"model": model, "input": "hi"}, "/v1/embeddings"), 400, param="model")


@pytest.mark.parametrize("provider", ["open ai", "openai\r\nX-Injected: yes", "ö", "..", "open?ai"])
def test_unsafe_provider_names_are_unknown_and_echoed_safely(gateway, upstream, provider: str) -> None:
    err = error(post_json(gateway, chat_body(f"{provider}/gpt-4o")), 404, param="model", code="unknown_provider")
    assert "\r" not in err["message"] and "\n" not in err["message"]
