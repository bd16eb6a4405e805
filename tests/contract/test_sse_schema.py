"""The contract's description of a streamed chat answer has teeth: schemathesis checks each SSE event.

(The schemathesis tests only ever see well-formed streams from the mock; these prove a malformed
event would fail them.)
"""

from __future__ import annotations

import datetime

import httpx
import pytest
import schemathesis
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from llmg.contract import build

CHUNK = (b'data: {"id":"c1","object":"chat.completion.chunk","created":0,"model":"m",'
         b'"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}\n\n')
ERROR = b'data: {"error":{"message":"stream interrupted","type":"provider_error","param":null,"code":"stream_error"}}\n\n'
DONE = b"data: [DONE]\n\n"


def validate(stream: bytes) -> None:
    operation = schemathesis.openapi.from_dict(build())["/v1/chat/completions"]["POST"]
    case = operation.Case(body={"model": "mock/m", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions", json=case.body)
    response = httpx.Response(200, headers={"content-type": "text/event-stream", "x-request-id": "r1"},
                              content=stream, request=request)
    response.read()
    response.elapsed = datetime.timedelta(0)
    case.validate_response(response, checks=[response_schema_conformance])


@pytest.mark.parametrize("stream", [CHUNK + CHUNK + DONE, CHUNK + ERROR + DONE, DONE], ids=["chunks", "error", "empty"])
def test_well_formed_streams_conform(stream: bytes) -> None:
    validate(stream)


@pytest.mark.parametrize(
    "stream",
    [
        b'data: {"foo": 1}\n\n' + DONE,  # neither a chunk nor an error
        CHUNK.replace(b'"finish_reason":null', b'"finish_reason":"exploded"') + DONE,  # not a finish reason
        CHUNK.replace(b'"object":"chat.completion.chunk"', b'"object":"chat.completion"') + DONE,
        b"data: plain text\n\n" + DONE,
    ],
    ids=["unknown-object", "bad-finish-reason", "wrong-object", "not-json"],
)
def test_malformed_events_are_caught(stream: bytes) -> None:
    with pytest.raises(FailureGroup, match="SSE event violates schema"):
        validate(stream)
