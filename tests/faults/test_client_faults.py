"""Client faults: clients that leave, stall, pipeline or just sit on connections. The gateway
answers or closes within its configured bounds and keeps nothing of theirs afterwards."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time

import pytest

from tests.faults.conftest import FD_LIMIT, KEEP_ALIVE_TIMEOUT, REQUEST_TIMEOUT
from tests.faults.helpers import chat

BOUND = REQUEST_TIMEOUT + 6.0


def _connect(gateway) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
    sock.settimeout(10)
    return sock


def _request(gateway, body: dict, extra: str = "") -> bytes:
    raw = json.dumps(body).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {gateway.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(raw)}\r\n{extra}\r\n"
    )
    return head.encode() + raw


def _read_until_closed(sock: socket.socket, deadline: float) -> bytes:
    data = b""
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_client_disconnects_mid_stream(probe, fault_gateway, faulty) -> None:
    base = probe.read()
    sock = _connect(fault_gateway)
    sock.sendall(_request(fault_gateway, {"model": "faulty/forever", "stream": True, "messages": [{"role": "user", "content": "hi"}]}))
    seen = b""
    while seen.count(b"data: ") < 2:
        chunk = sock.recv(65536)
        assert chunk, seen[:300]
        seen += chunk
    assert probe.read().streams == 1 and faulty.busy == 1
    sock.close()
    # The gateway notices, cancels the relay and hangs up on the never-ending upstream.
    probe.assert_back(base, timeout=5)


def test_client_disconnects_mid_upload(probe, fault_gateway, faulty) -> None:
    base = probe.read()
    served = faulty.served
    sock = _connect(fault_gateway)
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer t\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    )
    sock.sendall(head.encode() + b'{"model":"faulty/ok","messages":[' + b" " * 1000)
    time.sleep(0.3)
    sock.close()
    probe.assert_back(base, timeout=5)
    assert faulty.served == served  # nothing half-uploaded went upstream


def test_slow_loris_headers_are_cut_at_the_request_timeout(probe, fault_gateway) -> None:
    base = probe.read()
    sock = _connect(fault_gateway)
    sock.settimeout(0.25)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    start = time.monotonic()
    answer = b""
    closed = False
    for i in range(200):  # one header byte every 0.25 s, for up to 50 s: the gateway must stop it first
        try:
            sock.sendall(b"X-Slow-%d: y\r\n"[:1] if i % 2 else b"x")
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            closed = True
            break
        answer += chunk
        if not chunk:
            closed = True
            break
    elapsed = time.monotonic() - start
    sock.close()
    assert closed or answer, "the gateway never cut the slow-loris client"
    assert elapsed < BOUND, elapsed
    if answer:
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    probe.assert_back(base)


def test_slow_loris_body_gets_a_408(probe, fault_gateway, faulty) -> None:
    base = probe.read()
    served = faulty.served
    sock = _connect(fault_gateway)
    sock.settimeout(0.25)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {fault_gateway.token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
    )
    sock.sendall(head.encode())
    start = time.monotonic()
    answer = b""
    for _ in range(200):
        try:
            sock.sendall(b" ")
        except (BrokenPipeError, ConnectionResetError):
            break
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        answer += chunk
        if b"\r\n\r\n" in answer:
            break
    elapsed = time.monotonic() - start
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert elapsed < BOUND, elapsed
    assert faulty.served == served
    probe.assert_back(base)


def test_pipelined_requests_are_answered_in_order(probe, fault_gateway) -> None:
    base = probe.read()
    sock = _connect(fault_gateway)
    burst = (
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        + _request(fault_gateway, {"model": "faulty/ok", "messages": [{"role": "user", "content": "hi"}]})
        + b"GET /v1/models/faulty%2Fnope HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer t\r\n\r\n"
        + b"GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    sock.sendall(burst)  # all four in one write, before any answer
    data = _read_until_closed(sock, time.monotonic() + 15)
    sock.close()
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
    assert statuses == [b"200", b"200", b"404", b"200"], data[:500]
    assert b'"chatcmpl-fault"' in data
    probe.assert_back(base)


@pytest.mark.skipif(FD_LIMIT != -1 and FD_LIMIT < 4500, reason="needs an open-file limit of 4,500 or more (ulimit -n)")
def test_two_thousand_idle_keep_alive_connections(probe, fault_gateway) -> None:
    base = probe.read()
    count = 2000

    async def scenario() -> tuple[list[bytes], float]:
        async def open_one() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            reader, writer = await asyncio.open_connection("127.0.0.1", fault_gateway.port)
            writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await reader.readuntil(b"\r\n\r\n")
            return reader, writer

        conns = []
        for i in range(0, count, 200):  # in batches: the listen backlog is finite
            conns += await asyncio.gather(*(open_one() for _ in range(200)))
        # All of them now sit idle on keep-alive; a new client is still served at once.
        start = time.monotonic()
        out = await asyncio.to_thread(chat, fault_gateway, "faulty/ok")
        served_in = time.monotonic() - start
        assert out.status == 200, out.body[:200]
        # The gateway closes every idle connection after keep_alive_timeout.
        async def wait_closed(reader: asyncio.StreamReader) -> bytes:
            try:
                return await asyncio.wait_for(reader.read(), KEEP_ALIVE_TIMEOUT + 15)
            except asyncio.TimeoutError:
                return b"still open"
        leftovers = await asyncio.gather(*(wait_closed(r) for r, _ in conns))
        for _, writer in conns:
            writer.close()
        return leftovers, served_in

    leftovers, served_in = asyncio.run(scenario())
    assert served_in < 10, served_in
    assert sum(1 for rest in leftovers if rest == b"still open") == 0
    probe.assert_back(base)
