"""MockTransport(handler): a transport that calls a Python function instead of the network.

For fast unit tests of adapters, of the failure mapping and of what an adapter sends: the handler
gets a ``MockRequest`` and returns a ``MockAnswer`` (or raises, as a client library would: an
``asyncio.TimeoutError`` is a timeout, an ``OSError`` an unreachable upstream). Answers go through
the same checks as on the wire (no redirects, the body caps), so tests see what a real transport
would return. Integration tests keep using real fake servers on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from .base import Limits, Timeout, UpstreamResponse, cap_for, failure, lower, read_capped, refuse_redirect

_TIMEOUTS: tuple[type[BaseException], ...] = (asyncio.TimeoutError,)
_FAILURES: tuple[type[BaseException], ...] = (asyncio.TimeoutError, OSError)


@dataclass(slots=True)
class MockRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    timeout: Timeout
    provider: str
    stream: bool


@dataclass(slots=True)
class MockAnswer:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""  # an iterable is sent as separate chunks


Handler = Callable[[MockRequest], "MockAnswer | Awaitable[MockAnswer]"]


class MockTransport:
    name = "mock"

    def __init__(self, handler: Handler, *, limits: Limits = Limits()) -> None:
        self.handler = handler
        self.limits = limits
        self.requests: list[MockRequest] = []
        self.open_streams = 0  # streams returned and not yet closed

    async def _answer(self, request: MockRequest) -> MockAnswer:
        self.requests.append(request)
        try:
            answer = self.handler(request)
            if inspect.isawaitable(answer):
                answer = await answer
        except _FAILURES as exc:
            raise failure(exc, request.provider, _TIMEOUTS) from None
        assert isinstance(answer, MockAnswer)
        refuse_redirect(answer.status, request.provider)
        return answer

    async def request(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None,
                      timeout: Timeout, provider: str) -> UpstreamResponse:
        answer = await self._answer(MockRequest(method, url, dict(headers), body, timeout, provider, False))
        data = await read_capped(_chunks(answer.body), cap_for(answer.status, self.limits), provider)
        return UpstreamResponse(answer.status, lower(answer.headers), data)

    async def stream(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None,
                     timeout: Timeout, provider: str) -> MockStream:
        answer = await self._answer(MockRequest(method, url, dict(headers), body, timeout, provider, True))
        self.open_streams += 1
        return MockStream(self, answer, provider)

    async def aclose(self) -> None:
        pass


async def _chunks(body: bytes | Iterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(body, bytes):
        if body:
            yield body
        return
    for chunk in body:
        yield chunk


class MockStream:
    def __init__(self, transport: MockTransport, answer: MockAnswer, provider: str) -> None:
        self._transport: MockTransport | None = transport
        self._body = answer.body
        self._provider = provider
        self._limits = transport.limits
        self.status = answer.status
        self.headers: Mapping[str, str] = lower(answer.headers)

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in _chunks(self._body):
                yield chunk
        except _FAILURES as exc:  # a body iterable may raise mid-way, like a dropped connection
            raise failure(exc, self._provider, _TIMEOUTS) from None

    async def read(self) -> bytes:
        return await read_capped(_chunks(self._body), self._limits.max_error_body, self._provider)

    async def aclose(self) -> None:
        if self._transport is not None:
            self._transport.open_streams -= 1
            self._transport = None
