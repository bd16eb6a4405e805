"""Sanic's HTTP/1.1 protocol with ``server.request_timeout`` as the config documents it, and a
handle on the open connections for the drain.

Stock Sanic restarts its request timer on every byte received, so a slow-loris client that sends
one header byte a second, or a body a byte at a time, is never cut (tests/faults found it). Here
the timer starts with the first byte of a request and runs until the whole request (headers and
body) is in, whatever the pace.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from time import monotonic
from typing import Any

from sanic.exceptions import RequestTimeout
from sanic.http import Stage
from sanic.server.protocols.http_protocol import HttpProtocol

from .accept import Acceptor


class GatewayHttpProtocol(HttpProtocol):
    __slots__ = ("_request_started",)
    # The server's set of open connections (one server per worker process), for cut_waiting().
    live: set[Any] | None = None
    # A single-worker server drains its listen queue itself (llmg.accept: uvloop takes one per turn).
    acceptor: Acceptor | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        acceptor = GatewayHttpProtocol.acceptor
        if acceptor is not None and acceptor.factory is None:
            acceptor.factory = partial(type(self), **kwargs)  # what Sanic's server builds each connection with

    def connection_made(self, transport: Any) -> None:
        GatewayHttpProtocol.live = self.connections
        super().connection_made(transport)  # type: ignore[no-untyped-call]
        acceptor = GatewayHttpProtocol.acceptor
        if acceptor is not None:
            acceptor.drain(self.loop)

    def data_received(self, data: bytes) -> None:
        http = getattr(self, "_http", None)  # not set yet for bytes that arrive with the connection
        if http is None or http.stage is Stage.IDLE:
            self._request_started = monotonic()  # the first byte of a new request
            super().data_received(data)
        elif http.stage is Stage.REQUEST:
            super().data_received(data)
            self._time = getattr(self, "_request_started", self._time)  # Sanic's REQUEST-stage check then measures the whole wait
        else:
            super().data_received(data)

    def check_timeouts(self) -> None:
        http = getattr(self, "_http", None)
        # The body is read once the handler has started (Stage.HANDLER); while it is still coming
        # in, the request timeout applies to it as well.
        if (
            self._task is not None and http is not None and http.stage is Stage.HANDLER and http.request_body
            and monotonic() - getattr(self, "_request_started", monotonic()) > self.request_timeout
        ):
            http.exception = RequestTimeout("Request Timeout")
            self._task.cancel("request timeout: body too slow")
            return
        super().check_timeouts()  # type: ignore[no-untyped-call]


def cut_waiting(error: Callable[[], Exception]) -> int:
    """Answer every request whose handler is still running and has not started its response
    (typically waiting for a provider) with ``error()``, the way Sanic itself ends a request at
    its response timeout: set the exception, cancel the connection's task. Streams already
    answering are ended by the lifecycle instead (an error event + [DONE])."""
    cut = 0
    for conn in list(GatewayHttpProtocol.live or ()):
        http = getattr(conn, "_http", None)
        task = getattr(conn, "_task", None)
        if http is not None and task is not None and http.stage is Stage.HANDLER and not task.done():
            http.exception = error()
            task.cancel("drain timeout")
            cut += 1
    return cut
