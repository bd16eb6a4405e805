"""Named gateway keys and limits with the memory backend, in-process (sanic-testing)."""

from __future__ import annotations

import hashlib
import json

import pytest

from llmg.app import create_app
from llmg.config import ConfigError, parse

CHAT = {"model": "mock/mock-1", "messages": [{"role": "user", "content": "Hi"}]}
JSON = {"content-type": "application/json"}


def app_for(toml: str, env: dict[str, str] | None = None):
    return create_app(parse("[providers.mock]\n[aliases]\nfast = \"mock/mock-fast\"\n" + toml, "test", env or {}))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **JSON}


def post(app, token: str, body: dict | None = None, path: str = "/v1/chat/completions"):
    _, response = app.test_client.post(path, content=json.dumps(body or CHAT), headers=bearer(token))
    return response


def test_named_key_and_plain_keys_coexist() -> None:
    app = app_for('[server.auth]\nkeys = ["plain-1"]\n[keys.team-a]\nkey = "sk-team-a"\n')
    assert post(app, "plain-1").status == 200
    assert post(app, "sk-team-a").status == 200
    response = post(app, "sk-team-b")
    assert response.status == 401 and response.json["error"]["type"] == "authentication_error"


def test_named_keys_end_any_token_mode() -> None:
    app = app_for('[keys.team-a]\nkey = "sk-team-a"\n')
    assert post(app, "whatever").status == 401
    assert post(app, "sk-team-a").status == 200


def test_key_sha256_holds_no_plaintext() -> None:
    digest = hashlib.sha256(b"sk-hashed-key").hexdigest()
    app = app_for(f'[keys.hashed]\nkey_sha256 = "{digest}"\n')
    assert post(app, "sk-hashed-key").status == 200
    assert post(app, digest).status == 401  # the digest itself is not a key
    assert post(app, "sk-hashed-ke").status == 401


@pytest.mark.parametrize("expires", ['"2001-01-01T00:00:00Z"', "2001-01-01T00:00:00Z"])
def test_expired_key_is_401_key_expired(expires: str) -> None:
    app = app_for(f'[keys.old]\nkey = "sk-old"\nexpires = {expires}\n[keys.new]\nkey = "sk-new"\nexpires = "2999-01-01T00:00:00+02:00"\n')
    response = post(app, "sk-old")
    assert response.status == 401
    assert {k: response.json["error"][k] for k in ("message", "type")} == {"message": "key expired", "type": "authentication_error"}
    assert post(app, "sk-new").status == 200


def test_model_globs_over_provider_model_and_aliases() -> None:
    app = app_for('[keys.scoped]\nkey = "sk-s"\nmodels = ["mock/mock-1", "mock/gpt-*", "fast"]\n')
    assert post(app, "sk-s").status == 200
    assert post(app, "sk-s", {**CHAT, "model": "mock/gpt-4o"}).status == 200
    assert post(app, "sk-s", {**CHAT, "model": "fast"}).status == 200  # the name the client sends
    response = post(app, "sk-s", {**CHAT, "model": "mock/mock-2"})
    assert response.status == 403
    error = response.json["error"]
    assert error["type"] == "permission_error" and error["param"] == "model" and "mock/mock-2" in error["message"]
    # Embeddings are model calls too.
    assert post(app, "sk-s", {"model": "mock/other-embed", "input": "x"}, "/v1/embeddings").status == 403


def test_alias_target_matching_a_glob_is_allowed() -> None:
    app = app_for('[keys.scoped]\nkey = "sk-s"\nmodels = ["mock/mock-f*"]\n')
    assert post(app, "sk-s", {**CHAT, "model": "fast"}).status == 200
    assert post(app, "sk-s").status == 403


def test_model_check_runs_after_auth_and_never_before() -> None:
    app = app_for('[keys.scoped]\nkey = "sk-s"\nmodels = ["mock/x"]\n')
    assert post(app, "nope").status == 401  # unknown key: 401, the body is never read


def test_rpm_gives_429_with_openai_headers_on_every_answer() -> None:
    app = app_for('[keys.small]\nkey = "sk-small"\nrpm = 3\n')
    remaining = []
    for _ in range(3):
        response = post(app, "sk-small")
        assert response.status == 200
        assert response.headers["x-ratelimit-limit-requests"] == "3"
        remaining.append(response.headers["x-ratelimit-remaining-requests"])
        assert response.headers["x-ratelimit-reset-requests"].endswith("s")
    assert remaining == ["2", "1", "0"]
    response = post(app, "sk-small")
    assert response.status == 429
    error = response.json["error"]
    assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
    assert "small" in error["message"] and "sk-small" not in error["message"]
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    # A GET is an answer too: it carries the headers, and is not counted.
    _, response = app.test_client.get("/v1/models", headers=bearer("sk-small"))
    assert response.status == 200 and response.headers["x-ratelimit-remaining-requests"] == "0"
    # Errors of a limited key carry them as well.
    response = post(app, "sk-small", {"model": "nosuch/x", "messages": []})
    assert response.status == 429


def test_headers_on_error_answers_of_a_limited_key() -> None:
    app = app_for('[keys.k]\nkey = "sk-k"\nrpm = 10\n')
    response = post(app, "sk-k", {"model": "nosuch/x", "messages": [{"role": "user", "content": "x"}]})
    assert response.status == 404
    assert response.headers["x-ratelimit-remaining-requests"] == "9"


def test_unlimited_and_plain_keys_get_no_rate_headers() -> None:
    app = app_for('[server.auth]\nkeys = ["plain"]\n[keys.free]\nkey = "sk-free"\n[keys.l]\nkey = "sk-l"\nrpm = 5\n')
    for token in ("plain", "sk-free"):
        response = post(app, token)
        assert response.status == 200
        assert not [h for h in response.headers if h.startswith("x-ratelimit")]


def test_global_rpm_covers_every_key() -> None:
    app = app_for('[server.auth]\nkeys = ["plain"]\n[keys.l]\nkey = "sk-l"\nrpm = 100\n[limits]\nglobal_rpm = 3\n')
    statuses = [post(app, token).status for token in ("plain", "sk-l", "plain", "sk-l")]
    assert statuses == [200, 200, 200, 429]
    response = post(app, "plain")
    assert response.status == 429 and "gateway" in response.json["error"]["message"]


def test_tpm_charges_real_usage_of_complete_answers() -> None:
    app = app_for('[keys.t]\nkey = "sk-t"\ntpm = 60\n')
    used = []
    for _ in range(10):
        response = post(app, "sk-t")
        if response.status == 429:
            break
        assert response.status == 200
        used.append(response.json["usage"]["total_tokens"])
    assert response.status == 429 and response.json["error"]["type"] == "rate_limit_error"
    assert "tokens per minute" in response.json["error"]["message"]
    _, info = app.test_client.get("/v1/key", headers=bearer("sk-t"))
    assert info.json["usage"]["tokens"] == sum(used)  # the real usage, not the estimate
    estimate = len(json.dumps(CHAT)) // 4  # what a request reserves before the call (Content-Length / 4)
    assert estimate != used[0]  # so charging the estimate instead would show
    assert sum(used) <= 60 < sum(used) + estimate


def test_tpm_stream_usage_charged_and_extra_chunk_dropped() -> None:
    app = app_for('[keys.t]\nkey = "sk-t"\ntpm = 100000\n')
    body = {**CHAT, "stream": True}
    _, response = app.test_client.post("/v1/chat/completions", content=json.dumps(body), headers=bearer("sk-t"))
    assert response.status == 200
    events = [line for line in response.body.split(b"\n\n") if line]
    assert events[-1] == b"data: [DONE]"
    assert not any(b'"usage"' in e and b'"choices":[]' in e for e in events)  # the client did not ask
    _, info = app.test_client.get("/v1/key", headers=bearer("sk-t"))
    charged = info.json["usage"]["tokens"]
    # The client that asks gets the usage chunk, and it is what was charged.
    body["stream_options"] = {"include_usage": True}
    _, response = app.test_client.post("/v1/chat/completions", content=json.dumps(body), headers=bearer("sk-t"))
    usage = [json.loads(e[6:]) for e in response.body.split(b"\n\n") if b'"usage"' in e and e.startswith(b"data: {")]
    assert usage and usage[-1]["choices"] == []
    assert charged == usage[-1]["usage"]["total_tokens"]


def test_failed_request_refunds_the_reservation() -> None:
    app = app_for('[keys.t]\nkey = "sk-t"\ntpm = 1000\nmodels = ["mock/*"]\n')
    big = {**CHAT, "model": "nosuch/x", "messages": [{"role": "user", "content": "x" * 2000}]}
    assert post(app, "sk-t", big).status == 403
    _, info = app.test_client.get("/v1/key", headers=bearer("sk-t"))
    assert info.json["usage"]["tokens"] == 0


def test_v1_key_reports_name_limits_usage() -> None:
    app = app_for('[keys.team-a]\nkey = "sk-a"\nrpm = 7\ntpm = 900\nmax_parallel = 2\nmodels = ["mock/*"]\n'
                  'expires = "2999-01-01T00:00:00Z"\n[server.auth]\nkeys = ["plain"]\n')
    post(app, "sk-a")
    _, response = app.test_client.get("/v1/key", headers=bearer("sk-a"))
    assert response.status == 200
    info = response.json
    assert info["name"] == "team-a" and info["object"] == "gateway.key"
    assert info["limits"] == {"rpm": 7, "tpm": 900, "max_parallel": 2, "models": ["mock/*"], "expires_at": 32472144000}
    assert info["usage"]["requests"] == 1 and info["usage"]["in_flight"] == 0
    assert info["backend"] == "memory"
    assert "sk-a" not in response.body.decode()
    _, response = app.test_client.get("/v1/key", headers=bearer("plain"))
    assert response.json["name"] is None and response.json["usage"] is None
    _, response = app.test_client.get("/v1/key")
    assert response.status == 401


@pytest.mark.parametrize("toml, message", [
    ('[keys.a]\nrpm = 1\n', "exactly one of"),
    ('[keys.a]\nkey = "x"\nkey_sha256 = "' + "0" * 64 + '"\n', "exactly one of"),
    ('[keys.a]\nkey_sha256 = "abc"\n', "keys.a.key_sha256"),
    ('[keys.a]\nkey = "x"\nexpires = "2027-01-01T00:00:00"\n', "time zone"),
    ('[keys.a]\nkey = "x"\nrpm = -1\n', "keys.a.rpm"),
    ('[keys.a]\nkey = "x"\nmodels = []\n', "keys.a.models"),
    ('[keys.a]\nkey = "x"\nlimit = 3\n', "keys.a"),
    ('[limits]\nbackend = "sql"\n', "limits.backend"),
    ('[limits]\non_backend_error = "maybe"\n', "limits.on_backend_error"),
])
def test_bad_key_config_is_refused(toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(toml, "test", {})
    assert message in str(caught.value)


def test_key_config_repr_hides_the_key_and_the_redis_password() -> None:
    loaded = parse('[keys.a]\nkey = "${K}"\n[limits]\nredis_url = "redis://:${P}@127.0.0.1:6379/0"\n', "test",
                   {"K": "sk-secret-value", "P": "redis-password-1"})
    assert "sk-secret-value" not in repr(loaded.config)
    assert "redis-password-1" not in repr(loaded.config)
