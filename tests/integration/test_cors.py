"""CORS: off by default; with server.cors_origins, preflights answer without auth and allowed
origins get access-control-allow-origin on every response."""

from __future__ import annotations

from llmg.app import create_app
from llmg.config import parse

CHAT = {"model": "mock/mock-1", "messages": [{"role": "user", "content": "Hi"}]}


def app_for(toml: str):
    return create_app(parse("[providers.mock]\n" + toml, "test", {}))


def test_off_by_default() -> None:
    app = app_for("")
    _, response = app.test_client.options("/v1/chat/completions", headers={"origin": "https://app.example.com"})
    assert response.status == 405
    _, response = app.test_client.get("/health", headers={"origin": "https://app.example.com"})
    assert "access-control-allow-origin" not in response.headers


def test_preflight_without_auth_for_an_allowed_origin() -> None:
    app = app_for('[server]\ncors_origins = ["https://app.example.com"]\n[server.auth]\nkeys = ["k"]\n')
    _, response = app.test_client.options(
        "/v1/chat/completions",
        headers={"origin": "https://app.example.com", "access-control-request-method": "POST"},
    )
    assert response.status == 204
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"]
    _, response = app.test_client.options("/v1/models/mock/mock-1", headers={"origin": "https://app.example.com"})
    assert response.status == 204


def test_allowed_origin_on_answers_and_errors() -> None:
    app = app_for('[server]\ncors_origins = ["https://app.example.com"]\n[server.auth]\nkeys = ["k"]\n')
    headers = {"origin": "https://app.example.com", "content-type": "application/json"}
    _, ok = app.test_client.post("/v1/chat/completions", json=CHAT, headers={**headers, "authorization": "Bearer k"})
    assert ok.status == 200
    assert ok.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "x-request-id" in ok.headers["access-control-expose-headers"]
    assert "x-llmg-deployment" in ok.headers["access-control-expose-headers"]
    _, denied = app.test_client.post("/v1/chat/completions", json=CHAT, headers=headers)
    assert denied.status == 401  # the browser can read the error too
    assert denied.headers["access-control-allow-origin"] == "https://app.example.com"


def test_other_origins_get_nothing() -> None:
    app = app_for('[server]\ncors_origins = ["https://app.example.com"]\n')
    _, response = app.test_client.options("/v1/chat/completions", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
    _, response = app.test_client.get("/health", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


def test_any_origin() -> None:
    app = app_for('[server]\ncors_origins = ["*"]\n')
    _, response = app.test_client.get("/health", headers={"origin": "https://anything.example"})
    assert response.headers["access-control-allow-origin"] == "*"
