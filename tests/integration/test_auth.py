"""Gateway auth (layer 1), row by row from the authentication page, in-process with sanic-testing."""

from __future__ import annotations

import pytest

from llmg.app import create_app
from llmg.config import parse

CHAT = {"model": "mock/mock-1", "messages": [{"role": "user", "content": "Hi"}]}
INVALID_AUTH = {"message": "Invalid authentication", "type": "authentication_error"}


def app_for(toml: str, env: dict[str, str] | None = None):
    return create_app(parse("[providers.mock]\n" + toml, "test", env or {}))


def post(app, headers: dict[str, str] | None = None):
    _, response = app.test_client.post(
        "/v1/chat/completions", json=CHAT, headers={"content-type": "application/json", **(headers or {})}
    )
    return response


def assert_rejected(response) -> None:
    assert response.status == 401
    error = response.json["error"]
    assert {k: error[k] for k in ("message", "type")} == INVALID_AUTH


# --- "Current behavior" (also the default with no [server.auth]) -------------------------------


@pytest.fixture(scope="module")
def default_app():
    return app_for("")


def test_any_bearer_token_is_accepted(default_app) -> None:
    response = post(default_app, {"Authorization": "Bearer any-value-here"})
    assert response.status == 200
    assert response.json["object"] == "chat.completion"


def test_missing_header_is_401(default_app) -> None:
    assert_rejected(post(default_app))


def test_basic_scheme_is_401(default_app) -> None:
    assert_rejected(post(default_app, {"Authorization": "Basic dXNlcjpwYXNz"}))


@pytest.mark.parametrize("value", ["Bearer", "bearer", "Token abc", "abc"])
def test_malformed_bearer_is_401(default_app, value: str) -> None:
    assert_rejected(post(default_app, {"Authorization": value}))


def test_scheme_is_case_insensitive(default_app) -> None:
    assert post(default_app, {"Authorization": "bearer tok"}).status == 200


@pytest.mark.parametrize("path", ["/v1/models", "/v1/models/mock/mock-1"])
def test_every_route_but_health_needs_auth(default_app, path: str) -> None:
    _, response = default_app.test_client.get(path)
    assert_rejected(response)
    _, response = default_app.test_client.get(path, headers={"Authorization": "Bearer t"})
    assert response.status == 200


def test_embeddings_need_auth(default_app) -> None:
    _, response = default_app.test_client.post("/v1/embeddings", json={"model": "mock/e", "input": "x"})
    assert_rejected(response)


def test_health_is_public(default_app) -> None:
    _, response = default_app.test_client.get("/health")
    assert response.status == 200
    assert response.json["status"] == "ok"


def test_rejected_before_the_body_is_read(default_app) -> None:
    # Malformed JSON without credentials: the auth signal answers first, the body is never decoded.
    _, response = default_app.test_client.post(
        "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_rejected(response)


# --- "Planned behavior" table -------------------------------------------------------------------


def test_enabled_false_needs_no_auth() -> None:
    app = app_for("[server.auth]\nenabled = false\n")
    assert post(app).status == 200
    assert post(app, {"Authorization": "Basic dXNlcjpwYXNz"}).status == 200


def test_enabled_with_empty_keys_accepts_any_bearer() -> None:
    app = app_for("[server.auth]\nenabled = true\nkeys = []\n")
    assert post(app, {"Authorization": "Bearer whatever"}).status == 200
    assert_rejected(post(app))


def test_only_configured_key_accepted() -> None:
    app = app_for('[server.auth]\nenabled = true\nkeys = ["sk-gw-abc"]\n')
    assert post(app, {"Authorization": "Bearer sk-gw-abc"}).status == 200
    assert_rejected(post(app, {"Authorization": "Bearer sk-gw-abd"}))
    assert_rejected(post(app, {"Authorization": "Bearer sk-gw-ab"}))
    assert_rejected(post(app, {"Authorization": "Bearer sk-gw-abcd"}))
    assert_rejected(post(app))


def test_multiple_keys() -> None:
    app = app_for('[server.auth]\nkeys = ["key1", "key2"]\n')
    assert post(app, {"Authorization": "Bearer key1"}).status == 200
    assert post(app, {"Authorization": "Bearer key2"}).status == 200
    assert_rejected(post(app, {"Authorization": "Bearer key3"}))


def test_keys_from_environment_variables() -> None:
    app = app_for('[server.auth]\nkeys = ["${LLMG_API_KEY}", "${LLMG_API_KEY_2}"]\n',
                  {"LLMG_API_KEY": "team-a", "LLMG_API_KEY_2": "team-b"})
    assert post(app, {"Authorization": "Bearer team-a"}).status == 200
    assert post(app, {"Authorization": "Bearer team-b"}).status == 200
    assert_rejected(post(app, {"Authorization": "Bearer ${LLMG_API_KEY}"}))


def test_key_expanded_to_empty_never_matches() -> None:
    app = app_for('[server.auth]\nkeys = ["${EMPTY}"]\n', {"EMPTY": ""})
    assert_rejected(post(app, {"Authorization": "Bearer"}))
    assert_rejected(post(app, {"Authorization": "Bearer x"}))


def test_unset_variable_key_never_matches_its_literal_text() -> None:
    app = app_for('[server.auth]\nkeys = ["${UNSET_GATEWAY_KEY}", "real"]\n')
    assert_rejected(post(app, {"Authorization": "Bearer ${UNSET_GATEWAY_KEY}"}))
    assert post(app, {"Authorization": "Bearer real"}).status == 200


def test_health_stays_public_with_keys() -> None:
    app = app_for('[server.auth]\nkeys = ["k"]\n')
    _, response = app.test_client.get("/health")
    assert response.status == 200


def test_rejection_never_echoes_the_token() -> None:
    app = app_for('[server.auth]\nkeys = ["k"]\n')
    response = post(app, {"Authorization": "Bearer sk-client-secret-123"})
    assert b"sk-client-secret-123" not in response.body
    assert all("sk-client-secret-123" not in v for v in response.headers.values())
