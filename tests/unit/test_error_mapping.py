"""The one mapping of upstream failures to gateway errors, through MockTransport: no server, so
each case is exact and fast. The same checks run on the wire in test_upstream_hardening.py."""

from __future__ import annotations

import asyncio

import pytest

from llmg.config import parse
from llmg.errors import GatewayError
from llmg.providers.base import Call
from llmg.providers.registry import instantiate, plan
from llmg.schemas.openai import ChatCompletionRequest
from llmg.transports import Limits, Timeout
from llmg.transports.mock import MockAnswer, MockRequest, MockTransport

SECRET = "sk-unit-secret-key"
TIMEOUT = Timeout(total=5, connect=1)


def provider_on(transport: MockTransport):
    config = parse(f'[providers.openai]\napi_key = "{SECRET}"\nbase_url = "http://up.test/v1"\n', "t", {})
    return instantiate(plan(config, {}).registered, transport)["openai"]


def call(model: str = "gpt-4o") -> Call:
    raw = b'{"model":"openai/' + model.encode() + b'","messages":[{"role":"user","content":"hi"}]}'
    import msgspec

    return Call(raw, msgspec.json.decode(raw, type=ChatCompletionRequest), f"openai/{model}", model, "req-1")


def failing(exc: BaseException):
    def handler(request: MockRequest) -> MockAnswer:
        raise exc

    return handler


def run_chat(transport: MockTransport, stream: bool = False) -> GatewayError:
    provider = provider_on(transport)

    async def go() -> None:
        if stream:
            await provider.chat_stream(call())
        else:
            await provider.chat(call())

    with pytest.raises(GatewayError) as caught:
        asyncio.run(go())
    assert SECRET not in caught.value.message
    return caught.value


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "exc, status, type_, code",
    [
        (TimeoutError(), 504, "timeout_error", "upstream_timeout"),
        (ConnectionRefusedError(), 502, "provider_error", "upstream_unavailable"),
        (OSError("reset"), 502, "provider_error", "upstream_unavailable"),
    ],
)
def test_library_failures_map_once(exc, status, type_, code, stream) -> None:
    error = run_chat(MockTransport(failing(exc)), stream)
    assert (error.status, error.type, error.code) == (status, type_, code)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("stream", [False, True])
def test_redirect_is_a_502(status, stream) -> None:
    answer = MockAnswer(status, {"location": "http://elsewhere.test/"})
    error = run_chat(MockTransport(lambda r: answer), stream)
    assert (error.status, error.type, error.code) == (502, "provider_error", "upstream_redirect")
    assert "elsewhere" not in error.message


def test_complete_answer_over_the_cap_is_a_502() -> None:
    transport = MockTransport(lambda r: MockAnswer(200, body=[b"x" * 1024] * 3), limits=Limits(max_body=2048))
    error = run_chat(transport)
    assert (error.status, error.code) == (502, "upstream_body_too_large")


def test_answer_at_the_cap_passes() -> None:
    body = b'{"id":"c","object":"chat.completion"' + b" " * (2048 - 37) + b"}"
    assert len(body) == 2048
    transport = MockTransport(lambda r: MockAnswer(200, body=body), limits=Limits(max_body=2048))
    reply = asyncio.run(provider_on(transport).chat(call()))
    assert reply.body == body


@pytest.mark.parametrize("stream", [False, True])
def test_error_body_over_its_cap_is_a_502(stream) -> None:
    answer = MockAnswer(500, body=[b"e" * 1024] * 70)  # 70 KiB > 64 KiB
    error = run_chat(MockTransport(lambda r: answer), stream)
    assert (error.status, error.code) == (502, "upstream_body_too_large")


@pytest.mark.parametrize("stream", [False, True])
def test_error_body_under_its_cap_keeps_the_mapping(stream) -> None:
    body = b'{"error":{"message":"slow down","type":"requests"}}'
    answer = MockAnswer(429, {"Retry-After": "7"}, body)
    error = run_chat(MockTransport(lambda r: answer), stream)
    # An OpenAI-format error keeps the upstream's own type (OpenAI says "requests" / "tokens").
    assert (error.status, error.type, error.headers.get("retry-after")) == (429, "requests", "7")
    assert "slow down" in error.message


def test_upstream_401_is_auth_failed_without_the_key() -> None:
    body = f'{{"error":{{"message":"Incorrect API key provided: {SECRET}"}}}}'.encode()
    error = run_chat(MockTransport(lambda r: MockAnswer(401, body=body)))
    assert (error.status, error.type, error.code) == (401, "provider_error", "provider_auth_failed")


def test_stream_is_closed_after_an_error_answer() -> None:
    transport = MockTransport(lambda r: MockAnswer(500, body=b'{"error":{"message":"boom"}}'))
    run_chat(transport, stream=True)
    assert transport.open_streams == 0
