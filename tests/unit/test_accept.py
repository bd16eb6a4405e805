"""llmg.accept over real loopback sockets: one drain takes the whole listen queue (up to its batch)."""

from __future__ import annotations

import asyncio
import socket

import uvloop

from llmg.accept import Acceptor, listening_socket


class Recorder(asyncio.Protocol):
    made: list[asyncio.BaseTransport] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        Recorder.made.append(transport)


def drained(queued: int, batch: int) -> int:
    async def main() -> int:
        Recorder.made = []
        sock = listening_socket("127.0.0.1", 0, 128)
        clients = [socket.create_connection(sock.getsockname()) for _ in range(queued)]  # all in the kernel's queue
        try:
            acceptor = Acceptor(sock, batch)
            acceptor.factory = Recorder
            acceptor.drain(asyncio.get_running_loop())  # what one uvloop accept triggers
            for _ in range(10):
                await asyncio.sleep(0)
            count = len(Recorder.made)
            assert all(t.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for t in Recorder.made)
            for t in Recorder.made:
                t.close()
            return count
        finally:
            for c in clients:
                c.close()
            sock.close()

    return uvloop.run(main())


def test_one_drain_accepts_every_queued_connection() -> None:
    assert drained(queued=40, batch=512) == 40


def test_a_drain_takes_at_most_its_batch() -> None:
    assert drained(queued=12, batch=5) == 5


def test_without_a_factory_nothing_is_accepted() -> None:
    sock = listening_socket("127.0.0.1", 0, 8)
    client = socket.create_connection(sock.getsockname())
    try:
        loop = asyncio.new_event_loop()
        Acceptor(sock).drain(loop)
        loop.close()
        sock.setblocking(True)
        sock.settimeout(1)
        accepted, _ = sock.accept()  # still queued: the drain did not take it
        accepted.close()
    finally:
        client.close()
        sock.close()
