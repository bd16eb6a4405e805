"""Streaming: incremental relay, [DONE] always, mid-stream failure, client disconnect."""

from __future__ import annotations

import json
import socket
import time

import httpx

from tests.gateway import GatewayProcess


def stream_lines(gateway: GatewayProcess, model: str):
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, headers=gateway.auth, timeout=10) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line:
                yield time.monotonic(), line


def test_chunks_arrive_incrementally(openai_gateway) -> None:
    start = time.monotonic()
    arrivals = list(stream_lines(openai_gateway, "openai/slow-stream"))
    first, last = arrivals[0][0] - start, arrivals[-1][0] - start
    # The fake sends 10 parts 0.3 s apart: the first must arrive long before the last.
    assert first < 1.0 < 2.0 < last
    assert arrivals[-1][1] == "data: [DONE]"


def test_done_is_added_when_upstream_omits_it(openai_gateway) -> None:
    lines = [line for _, line in stream_lines(openai_gateway, "openai/no-done")]
    assert lines[-1] == "data: [DONE]"
    assert lines.count("data: [DONE]") == 1


def test_done_is_not_doubled(openai_gateway) -> None:
    lines = [line for _, line in stream_lines(openai_gateway, "openai/gpt-4o")]
    assert lines.count("data: [DONE]") == 1 and lines[-1] == "data: [DONE]"


def test_mid_stream_failure_sends_error_event_then_done(openai_gateway) -> None:
    lines = [line for _, line in stream_lines(openai_gateway, "openai/stream-fail")]
    assert lines[-1] == "data: [DONE]"
    error = json.loads(lines[-2].removeprefix("data: "))
    assert error["error"]["type"] == "provider_error"
    assert "partial" in "".join(lines[:-2])


def test_upstream_error_before_stream_keeps_status(openai_gateway) -> None:
    body = {"model": "openai/error-429", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(f"{openai_gateway.url}/v1/chat/completions", json=body, headers=openai_gateway.auth)
    assert r.status_code == 429
    assert r.json()["error"]["type"] == "requests"  # OpenAI's own type for a rate limit, kept
    assert r.json()["error"]["code"] == "rate_limit_exceeded"


def test_client_disconnect_cancels_upstream(openai_gateway, openai_fake) -> None:
    before = openai_fake.events.get("streams_abandoned", 0)
    payload = json.dumps({"model": "openai/slow-stream", "stream": True,
                          "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer t\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    with socket.create_connection(("127.0.0.1", openai_gateway.port), timeout=5) as sock:
        sock.sendall(request)
        assert b"200 OK" in sock.recv(65536)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and openai_fake.events.get("streams_abandoned", 0) == before:
        time.sleep(0.05)
    assert openai_fake.events.get("streams_abandoned", 0) == before + 1
