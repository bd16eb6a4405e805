"""Call.upstream_body: the client's bytes go upstream untouched except for ``model``, checked on
what the adapter actually sends (MockTransport records it)."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from llmg.providers.base import Call
from llmg.schemas.openai import ChatCompletionRequest
from llmg.transports.mock import MockAnswer, MockTransport
from tests.unit.test_error_mapping import provider_on

ANSWER = b'{"id":"c1","object":"chat.completion","choices":[]}'


def sent_upstream(raw: bytes, upstream_model: str) -> bytes:
    transport = MockTransport(lambda r: MockAnswer(200, {"content-type": "application/json"}, ANSWER))
    request = msgspec.json.decode(raw, type=ChatCompletionRequest)
    call = Call(raw, request, request.model, upstream_model, "req-1")
    reply = asyncio.run(provider_on(transport).chat(call))
    assert reply.body == ANSWER  # relayed byte for byte
    (sent,) = transport.requests
    assert sent.url == "http://up.test/v1/chat/completions" and sent.method == "POST"
    assert sent.headers["authorization"].startswith("Bearer ")
    assert sent.body is not None
    return sent.body


@pytest.mark.parametrize("separator", [b"", b" "])
def test_only_the_model_value_is_spliced(separator: bytes) -> None:
    raw = (b'{"model":' + separator + b'"openai/gpt-4o", "messages": [{"role":"user","content":"hi"}],'
           b' "temperature": 0.25, "x_unknown_field": {"kept": [1, 2.50]}}')
    sent = sent_upstream(raw, "gpt-4o")
    assert sent == raw.replace(b'"model":' + separator + b'"openai/gpt-4o"', b'"model":"gpt-4o"')


def test_a_second_model_key_falls_back_to_a_full_encode() -> None:
    # "model" also appears inside the content: the splice cannot be sure which one is top-level.
    raw = b'{"model":"openai/gpt-4o","messages":[{"role":"user","content":"say \\"model\\":\\"openai/gpt-4o\\""}],"metadata":{"model":"openai/gpt-4o"}}'
    sent = msgspec.json.decode(sent_upstream(raw, "gpt-4o"))
    assert sent["model"] == "gpt-4o"
    assert sent["metadata"] == {"model": "openai/gpt-4o"}  # nested values untouched
    assert sent["messages"][0]["content"] == 'say "model":"openai/gpt-4o"'


def test_escaped_model_value_is_rewritten() -> None:
    raw = b'{"messages":[{"role":"user","content":"hi"}],"model":"openai/gpt\\u002d4o"}'
    sent = msgspec.json.decode(sent_upstream(raw, "gpt-4o"))
    assert sent["model"] == "gpt-4o"


def test_unchanged_model_sends_the_raw_bytes() -> None:
    raw = b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
    assert sent_upstream(raw, "gpt-4o") is not None
    assert sent_upstream(raw, "gpt-4o") == raw
