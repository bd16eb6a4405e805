"""Accept every queued connection in one event-loop turn, not one per turn (issue 19, tails).

uvloop (libuv) accepts a single connection each time the listening socket is reported readable:
strace shows exactly one ``accept4`` per ``epoll_pwait``. Under load one loop turn takes tens of
milliseconds (it serves every ready connection), so a burst of new connections is admitted one
per turn: at c256 the last of 256 fresh connections waited ~250 turns (1-4 s) for its first
request, the stream p99 of issue 19, and a client that opens a connection per request is capped
at one per turn.

So each time uvloop accepts a connection, the protocol (``llmg.protocol``) calls
``Acceptor.drain``: the rest of the listen queue is accepted here, up to ``batch`` connections,
and handed to the loop with ``connect_accepted_socket`` (the same protocol factory, so they are
ordinary Sanic connections). Only a single-worker server owns its listening socket this way
(``llmg.cli.serve``); with several workers the queue is shared and draining it greedily would
pile every connection of a burst onto whichever worker woke first.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

# A burst larger than this is taken over the next turns (each uvloop accept drains again).
BATCH = 512


class Acceptor:
    __slots__ = ("sock", "factory", "batch", "_opening")

    def __init__(self, sock: socket.socket, batch: int = BATCH) -> None:
        self.sock = sock  # the server's listening socket, non-blocking
        self.factory: Callable[[], asyncio.Protocol] | None = None  # set by the first connection
        self.batch = batch
        self._opening: set[asyncio.Task[Any]] = set()  # tasks are weakly held by the loop

    def drain(self, loop: asyncio.AbstractEventLoop) -> None:
        factory = self.factory
        if factory is None:
            return
        for _ in range(self.batch):
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of descriptors, socket closed at shutdown: uvloop's own accept reports it
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as uvloop sets on its own accepts
            task = loop.create_task(self._open(loop, factory, conn))
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)

    @staticmethod
    async def _open(loop: asyncio.AbstractEventLoop, factory: Callable[[], asyncio.Protocol], conn: socket.socket) -> None:
        try:
            await loop.connect_accepted_socket(factory, conn)
        except (OSError, RuntimeError):  # the client already left, or the loop is closing
            conn.close()


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """The server's TCP socket, bound and listening, as Sanic would bind it itself."""
    from sanic.server.socket import bind_socket

    sock = bind_socket(host, port, backlog=backlog)
    sock.setblocking(False)
    return sock
