"""Issue 9 item 7: no amplification. A tiny request cannot make the mock build a huge answer, and
JSON nested deeper than the limit is a 400, never a RecursionError (500)."""

from __future__ import annotations

import json

import pytest

from llmg.app import create_app
from llmg.config import parse
from llmg.errors import InvalidRequest
from llmg.providers import mock
from llmg.schemas.decode import MAX_DEPTH, check_depth

HEADERS = {"content-type": "application/json", "authorization": "Bearer t"}


@pytest.fixture(scope="module")
def app():
    return create_app(parse("[providers.mock]\n", "test", {}), name="amplification")


def post(app, path: str, body: bytes | dict):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    _, response = app.test_client.post(path, content=raw, headers=HEADERS)
    return response


def chat(**extra) -> dict:
    return {"model": "mock/m", "messages": [{"role": "user", "content": "hi"}], **extra}


def assert_400(response, param: str | None, code: str) -> None:
    assert response.status == 400, response.body[:300]
    error = response.json["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == code, error
    if param is not None:
        assert error["param"] == param, error


def test_embeddings_inputs_times_dimensions_is_capped(app):
    # 447 bytes once asked for 62 MB: many short inputs times the largest dimensions.
    body = {"model": "mock/e", "input": ["a"] * 100, "dimensions": 65536}
    assert len(json.dumps(body)) < 700
    assert_400(post(app, "/v1/embeddings", body), "dimensions", "mock_limit_exceeded")
    ok = post(app, "/v1/embeddings", {"model": "mock/e", "input": ["a"] * 4, "dimensions": 1024})
    assert ok.status == 200 and len(ok.json["data"][0]["embedding"]) == 1024


def test_choices_and_max_tokens_are_capped(app):
    assert_400(post(app, "/v1/chat/completions", chat(n=mock.MAX_N + 1)), "n", "mock_limit_exceeded")
    assert_400(post(app, "/v1/chat/completions", chat(max_tokens=mock.MAX_TOKENS + 1)), "max_tokens", "mock_limit_exceeded")
    ok = post(app, "/v1/chat/completions", chat(n=mock.MAX_N, max_tokens=mock.MAX_TOKENS))
    assert ok.status == 200 and len(ok.json["choices"]) == mock.MAX_N


def test_echoed_prompt_times_choices_is_capped(app):
    words = " ".join(["w"] * (mock.MAX_ANSWER_WORDS // 4))
    body = {"model": "mock/m", "n": 8, "messages": [{"role": "user", "content": words}]}
    assert_400(post(app, "/v1/chat/completions", body), "n", "mock_limit_exceeded")
    # max_tokens bounds the echoed answer, so the same request with a small limit is fine
    ok = post(app, "/v1/chat/completions", {**body, "max_tokens": 10})
    assert ok.status == 200 and ok.json["choices"][0]["finish_reason"] == "length"


def _nested(depth: int, where: str = "metadata_extra") -> bytes:
    return b'{"model":"mock/m","messages":[{"role":"user","content":"hi"}],"' + where.encode() + b'":' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [MAX_DEPTH, 5000, 200_000])
def test_json_nested_too_deep_is_a_400(app, depth):
    assert_400(post(app, "/v1/chat/completions", _nested(depth)), None, "json_too_deep")


def test_deep_tool_schema_is_a_400_not_a_500(app):
    schema = b'{"type":"object","properties":{"a":' * 3000 + b"{}" + b"}}" * 3000
    body = b'{"model":"mock/m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":' + schema + b"}}]}"
    assert_400(post(app, "/v1/chat/completions", body), None, "json_too_deep")
    assert_400(post(app, "/v1/embeddings", b'{"model":"mock/e","input":"x","x":' + b'{"a":' * 5000 + b"1" + b"}" * 5001), None, "json_too_deep")


def test_nesting_just_below_the_limit_is_served(app):
    response = post(app, "/v1/chat/completions", _nested(MAX_DEPTH - 2))  # + the body object = MAX_DEPTH - 1
    assert response.status == 200, response.body[:300]


def test_depth_check_sees_through_strings():
    # Brackets inside strings are text, not structure; escaped quotes do not end a string.
    check_depth(b'{"a":"' + b"[" * 500 + b'","b":"\\"' + b"{" * 500 + b'"}')
    # ...and strings holding a bracket cannot hide real nesting.
    hidden = b'{"a":' + b'["]",' * 100 + b"1" + b"]" * 100 + b"}"
    with pytest.raises(InvalidRequest):
        check_depth(hidden)
    escaped = b'{"a":' + b'["\\\\",' * 100 + b"1" + b"]" * 100 + b"}"
    with pytest.raises(InvalidRequest):
        check_depth(escaped)
    wide = b'{"a":[' + b"[1]," * 10_000 + b"[1]]}"  # many brackets, shallow
    check_depth(wide)
