"""A short-lived bearer token obtained by exchanging a long-lived credential, cached until shortly
before it expires.

Several providers authenticate in two steps: a long-lived credential (an IBM Cloud API key, a
GitHub OAuth token, a service-account key) is exchanged at a token endpoint for a bearer token
that lives minutes to hours. Exchanging on every request (as the original LLMG did for watsonx)
doubles latency and hits the token endpoint's rate limits. ``TokenCache`` does the exchange once,
reuses the token until a safety margin before its expiry, and lets only one exchange run at a time
per cache: concurrent requests that find the token stale wait for that one exchange instead of
each starting their own.

Usage, in an adapter::

    async def _exchange(self) -> Token:            # does the HTTP call via self.transport
        ...
        return Token(value=data["access_token"], expires_in=data["expires_in"])

    self.tokens = TokenCache(self._exchange)        # in __init__: one cache per adapter instance
    token = await self.tokens.get()                 # per request: cached, or one exchange
    ...
    if upstream said 401:                           # the token was revoked or expired early
        self.tokens.invalidate(token)               # drop exactly that token, then get() again

The cache holds no lock across requests and does no I/O itself; ``fetch`` raises the adapter's
own ``GatewayError`` on failure, which propagates to every waiter and is not cached (the next
request tries again).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: base imports nothing from here
    from ..transports import UpstreamResponse, UpstreamStream
    from .base import Provider


@dataclass(slots=True, frozen=True)
class Token:
    """One bearer token as the token endpoint described it.

    ``expires_in``: seconds until the token stops working. ``refresh_in``: seconds after which the
    issuer asks clients to refresh (GitHub Copilot sends one); earlier of the two wins.
    """

    value: str
    expires_in: float
    refresh_in: float | None = None


class TokenCache:
    def __init__(
        self,
        fetch: Callable[[], Awaitable[Token]],
        *,
        margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._margin = margin
        self._clock = clock
        self._value: str | None = None
        self._deadline = 0.0
        self._lock = asyncio.Lock()
        self.exchanges = 0  # how many exchanges ran (for logs and tests)

    @property
    def current(self) -> str | None:
        """The cached token if it is still fresh, without any exchange."""
        if self._value is not None and self._clock() < self._deadline:
            return self._value
        return None

    async def get(self) -> str:
        """A fresh token: the cached one, or the result of one exchange shared by all waiters."""
        value = self.current
        if value is not None:
            return value
        async with self._lock:
            value = self.current  # another waiter may have refreshed it while we queued
            if value is not None:
                return value
            token = await self._fetch()
            self.exchanges += 1
            self._store(token)
            return token.value

    def invalidate(self, stale: str | None = None) -> None:
        """Forget the cached token (only if it is still ``stale``, when given).

        Passing the token a request used means N concurrent 401s cause one refresh, not N.
        """
        if stale is None or stale == self._value:
            self._value = None
            self._deadline = 0.0

    def _store(self, token: Token) -> None:
        lifetime = max(float(token.expires_in), 0.0)
        # Refresh a margin before expiry, but never spend more than half a short lifetime on it.
        usable = lifetime - min(self._margin, lifetime / 2)
        if token.refresh_in is not None and token.refresh_in > 0:
            usable = min(usable, float(token.refresh_in))
        self._value = token.value
        self._deadline = self._clock() + usable


# --- sending with a cached token: one fresh token and one retry on 401 ----------------------------

HeadersFor = Callable[[str], Mapping[str, str]]
# A URL may depend on what the token exchange returned (Copilot's endpoints.api): pass a callable,
# evaluated after the token is known.
Url = str | Callable[[], str]


async def post_with_token(provider: Provider, tokens: TokenCache, url: Url, body: bytes, headers_for: HeadersFor) -> UpstreamResponse:
    """POST with the cached token; a 401 (token revoked or expired early) gets one fresh token and
    one retry. Returns a 2xx answer, or raises the mapped GatewayError."""
    for attempt in (0, 1):
        token = await tokens.get()
        resp = await provider.transport.request(
            "POST", url if isinstance(url, str) else url(), headers=headers_for(token), body=body, timeout=provider.timeout, provider=provider.name
        )
        if resp.status == 401 and attempt == 0:
            tokens.invalidate(token)
            continue
        if resp.status >= 300:
            raise provider.upstream_error(resp.status, resp.body, resp.headers)
        return resp
    raise AssertionError("unreachable")


async def stream_with_token(provider: Provider, tokens: TokenCache, url: Url, body: bytes, headers_for: HeadersFor) -> UpstreamStream:
    """The streaming twin of ``post_with_token``: an open 2xx stream, or the mapped GatewayError."""
    for attempt in (0, 1):
        token = await tokens.get()
        stream = await provider.transport.stream(
            "POST", url if isinstance(url, str) else url(), headers=headers_for(token), body=body, timeout=provider.timeout, provider=provider.name
        )
        if stream.status < 300:
            return stream
        try:
            error_body = await stream.read()
        finally:
            await stream.aclose()
        if stream.status == 401 and attempt == 0:
            tokens.invalidate(token)
            continue
        raise provider.upstream_error(stream.status, error_body, stream.headers)
    raise AssertionError("unreachable")
