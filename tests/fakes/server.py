"""A real HTTP server on 127.0.0.1 for fake upstreams: an aiohttp app run in a background thread.

Fakes are real servers so that tests exercise the gateway's real transport. Each fake records
what it received (``requests``) so tests can assert on the exact wire format and on what never
reached the upstream.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    # The client's (host, port): one per TCP connection, so tests can count the connections the
    # gateway opened (a pooled connection reused for the next request keeps its port).
    peer: tuple[str, int] | None = None

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class FakeServer:
    """Run ``app`` (an aiohttp ``web.Application``) on a free port until ``stop()``."""

    app: web.Application
    port: int = field(default_factory=free_port)
    requests: list[Received] = field(default_factory=list)
    # Counters a fake may bump, e.g. streams the client abandoned.
    events: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.app["fake"] = self

        @web.middleware
        async def record(request: web.Request, handler):
            body = await request.read()
            self.requests.append(
                Received(
                    request.method,
                    request.path,
                    dict(request.query),
                    {k.lower(): v for k, v in request.headers.items()},
                    body,
                    request.transport.get_extra_info("peername") if request.transport is not None else None,
                )
            )
            return await handler(request)

        self.app.middlewares.insert(0, record)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bump(self, name: str) -> None:
        self.events[name] = self.events.get(name, 0) + 1

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(self.app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> FakeServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake server did not start")
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            await self._runner.cleanup()

        fut = asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        try:
            fut.result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def clear(self) -> None:
        self.requests.clear()
        self.events.clear()
