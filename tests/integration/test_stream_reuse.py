"""A stream that ended cleanly gives its upstream connection back to the pool; an abandoned one
does not (issue 19: a new TCP connection per stream was a measurable share of a stream's cost).

The fakes record each request's client address (``Received.peer``): one (host, port) is one TCP
connection, so N sequential streams over a reused connection show one peer. Every transport, an
OpenAI-format stream (relayed as bytes) and an Anthropic one (translated, whose reading stops at
``message_stop`` before the body has ended), plus a burst of fresh connections to check that the
single-worker acceptor (llmg/accept.py) hands them to ordinary Sanic connections.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from llmg.transports import TRANSPORT_NAMES
from tests.fakes import anthropic_upstream, openai_upstream
from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess

OPENAI_KEY = "sk-fake-openai"
ANTHROPIC_KEY = "sk-ant-fake"
STREAMS = 6


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[FakeServer]:
    server = openai_upstream.start(OPENAI_KEY)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[FakeServer]:
    server = anthropic_upstream.start(ANTHROPIC_KEY)
    yield server
    server.stop()


@pytest.fixture(scope="module", params=TRANSPORT_NAMES)
def gateway(request, openai_fake: FakeServer, anthropic_fake: FakeServer) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(f"""
[server]
transport = "{request.param}"

[providers.openai]
base_url = "{openai_fake.url}/v1"
api_key = "{OPENAI_KEY}"

[providers.anthropic]
base_url = "{anthropic_fake.url}/v1"
api_key = "{ANTHROPIC_KEY}"
""").start()
    yield gw
    gw.stop()


def stream(client: httpx.Client, gw: GatewayProcess, model: str) -> str:
    body = {"model": model, "stream": True, "max_tokens": 16, "messages": [{"role": "user", "content": "hello there"}]}
    r = client.post(f"{gw.url}/v1/chat/completions", json=body, headers=gw.auth)
    assert r.status_code == 200, r.text
    return r.text


def stream_peers(fake: FakeServer, path: str) -> list[tuple[str, int] | None]:
    return [q.peer for q in fake.requests if q.path == path and b'"stream":true' in q.body.replace(b" ", b"")]


@pytest.mark.parametrize(("model", "fake_name", "path"), [
    ("openai/gpt-4o", "openai_fake", "/v1/chat/completions"),
    ("anthropic/claude-sonnet-4-5", "anthropic_fake", "/v1/messages"),
], ids=["relayed", "translated"])
def test_sequential_streams_reuse_one_upstream_connection(gateway, request, model: str, fake_name: str, path: str) -> None:
    fake: FakeServer = request.getfixturevalue(fake_name)
    fake.clear()
    with httpx.Client(timeout=15) as client:
        for _ in range(STREAMS):
            text = stream(client, gateway, model)
            assert text.endswith("data: [DONE]\n\n") and text.count("data: [DONE]") == 1
    peers = stream_peers(fake, path)
    assert len(peers) == STREAMS and None not in peers
    assert len(set(peers)) == 1, f"{len(set(peers))} upstream connections for {STREAMS} sequential streams"


def test_an_abandoned_stream_does_not_go_back_to_the_pool(gateway, openai_fake: FakeServer) -> None:
    openai_fake.clear()
    with httpx.Client(timeout=15) as client:
        stream(client, gateway, "openai/gpt-4o")  # a pooled connection to start from
        body = b'{"model":"openai/slow-stream","stream":true,"messages":[{"role":"user","content":"hi"}]}'
        request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {gateway.token}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
            sock.sendall(request)
            assert b"200 OK" in sock.recv(65536)  # the first event, then the client goes away mid-stream
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not openai_fake.events.get("streams_abandoned"):
            time.sleep(0.05)
        assert openai_fake.events.get("streams_abandoned") == 1  # the upstream request was cancelled
        stream(client, gateway, "openai/gpt-4o")
    first, abandoned, after = stream_peers(openai_fake, "/v1/chat/completions")
    assert abandoned == first  # the slow stream took the pooled connection ...
    assert after != abandoned  # ... which was closed half-read, not handed to the next stream


def test_a_burst_of_fresh_connections_is_served(gateway) -> None:
    # 64 connections at once, one stream each: the acceptor takes the queued ones itself, and
    # every one is an ordinary connection (auth checked, stream relayed, [DONE] once).
    def one(_: int) -> str:
        with httpx.Client(timeout=30) as client:
            return stream(client, gateway, "openai/gpt-4o")

    with ThreadPoolExecutor(64) as pool:
        texts = list(pool.map(one, range(64)))
    assert all(t.endswith("data: [DONE]\n\n") and t.count("data: [DONE]") == 1 for t in texts)
    unauthorized = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "openai/gpt-4o", "stream": True,
                              "messages": [{"role": "user", "content": "x"}]}, timeout=10)
    assert unauthorized.status_code == 401
