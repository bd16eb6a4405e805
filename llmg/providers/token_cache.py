"""A short-lived bearer token obtained by exchanging a long-lived credential, cached until shortly
before it expires. The one token cache of the gateway: Copilot, watsonx and Vertex AI use it.

Several providers authenticate in two steps: a long-lived credential (an IBM Cloud API key, a
GitHub OAuth token, a service-account key) is exchanged at a token endpoint for a bearer token
that lives minutes to hours. Exchanging on every request (as the original LLMG did for watsonx)
doubles latency and hits the token endpoint's rate limits. ``TokenCache`` guarantees:

- **one exchange in flight** per cache: it runs as its own task and every waiter awaits that
  task (shielded), so all share its success or its failure, and a waiter that is cancelled (its
  client went away) never cancels or restarts the exchange;
- **its own timeout** (``exchange_timeout``, 20 s by default): a hung token endpoint is a 504, not
  a request stuck for the provider's whole timeout;
- **refresh ahead of expiry**: inside the refresh window (before the hard deadline) callers keep
  the current token and one background exchange replaces it, so no request waits after the first;
- **backoff with jitter** after repeated transient failures (5xx, 429, timeouts, unreachable):
  the first failure is retried by the next request; after that, requests fail fast with the last
  error until a jittered, doubling delay has passed. Auth failures (4xx) are not backed off, so a
  fixed credential (a login, a rotated key) works on the very next request.

Usage, in an adapter::

    async def _exchange(self) -> Token:            # does the HTTP call via self.transport
        ...
        return Token(value=data["access_token"], expires_in=data["expires_in"])

    self.tokens = TokenCache(self._exchange, name=self.name)  # in __init__: one per adapter
    token = await self.tokens.get()                 # per request: cached, or the shared exchange
    ...
    if upstream said 401:                           # the token was revoked or expired early
        self.tokens.invalidate(token)               # drop exactly that token, then get() again

``fetch`` raises the adapter's own ``GatewayError`` on failure.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import GatewayError, ProviderError, UpstreamTimeout

if TYPE_CHECKING:  # only for annotations: base imports nothing from here
    from ..transports import UpstreamResponse, UpstreamStream
    from .base import Provider

log = logging.getLogger("llmg.tokens")

EXCHANGE_TIMEOUT = 20.0
BACKOFF_BASE = 1.0  # seconds after the second consecutive transient failure, doubling per failure
BACKOFF_CAP = 60.0


@dataclass(slots=True, frozen=True)
class Token:
    """One bearer token as the token endpoint described it.

    ``expires_in``: seconds until the token stops working. ``refresh_in``: seconds after which the
    issuer asks clients to refresh (GitHub Copilot sends one); earlier of the two wins.
    """

    value: str
    expires_in: float
    refresh_in: float | None = None


def _transient(exc: BaseException) -> bool:
    """Worth backing off from: the endpoint is down or overloaded, not refusing our credential."""
    if isinstance(exc, GatewayError):
        return exc.status >= 500 or exc.status == 429
    return True


class TokenCache:
    def __init__(
        self,
        fetch: Callable[[], Awaitable[Token]],
        *,
        name: str = "provider",
        margin: float = 60.0,
        refresh_ahead: float = 300.0,
        exchange_timeout: float = EXCHANGE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._fetch = fetch
        self._name = name
        self._margin = margin
        self._refresh_ahead = refresh_ahead
        self._exchange_timeout = exchange_timeout
        self._clock = clock
        self._jitter = jitter
        self._value: str | None = None
        self._deadline = 0.0  # after it, callers wait for a new token
        self._refresh_at = 0.0  # after it (and before the deadline), one background refresh starts
        self._task: asyncio.Task[str] | None = None
        self._failures = 0  # consecutive transient failures
        self._retry_at = 0.0
        self._error: BaseException | None = None
        self.exchanges = 0  # exchanges started (for logs and tests)

    @property
    def current(self) -> str | None:
        """The cached token if it is still usable, without any exchange."""
        if self._value is not None and self._clock() < self._deadline:
            return self._value
        return None

    async def get(self) -> str:
        """A usable token: the cached one, or the result of the one exchange shared by all waiters."""
        value, now = self._value, self._clock()
        if value is not None and now < self._deadline:
            if now >= self._refresh_at and self._task is None and now >= self._retry_at:
                self._start()  # refresh ahead: this caller still gets the current token
            return value
        task = self._task
        if task is None:
            if self._error is not None and now < self._retry_at:
                raise self._replay()  # backing off: fail fast with the last error
            task = self._start()
        # shield: a waiter that is cancelled leaves the exchange running for everyone else
        return await asyncio.shield(task)

    def invalidate(self, stale: str | None = None) -> None:
        """Forget the cached token (only if it is still ``stale``, when given).

        Passing the token a request used means N concurrent 401s cause one refresh, not N.
        """
        if stale is None or stale == self._value:
            self._value = None
            self._deadline = self._refresh_at = 0.0

    async def aclose(self) -> None:
        """Stop an exchange still in flight (server shutdown)."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _start(self) -> asyncio.Task[str]:
        self.exchanges += 1
        task = self._task = asyncio.get_running_loop().create_task(self._exchange())
        task.add_done_callback(_consume)
        return task

    async def _exchange(self) -> str:
        try:
            try:
                async with asyncio.timeout(self._exchange_timeout):
                    token = await self._fetch()
            except TimeoutError:
                raise UpstreamTimeout(f"{self._name}: the token exchange timed out", code="token_exchange_timeout") from None
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._failed(exc)
            raise
        else:
            self._store(token)
            return token.value
        finally:
            self._task = None

    def _replay(self) -> GatewayError:
        """A fresh copy of the last failure (one exception object is never raised twice)."""
        err = self._error
        if isinstance(err, GatewayError):
            return GatewayError(err.message, status=err.status, type=err.type, param=err.param, code=err.code, headers=err.headers)
        return ProviderError(f"{self._name}: the token exchange failed", code="upstream_error")

    def _failed(self, exc: BaseException) -> None:
        if not _transient(exc):
            self._failures, self._retry_at, self._error = 0, 0.0, None
            return
        self._failures += 1
        self._error = exc
        if self._failures >= 2:
            delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (self._failures - 2))
            delay *= 0.5 + self._jitter() / 2  # jitter: workers and gateways do not retry in step
            self._retry_at = self._clock() + delay
            log.warning("%s: token exchange failed %d times in a row; next try in %.1f s", self._name, self._failures, delay)

    def _store(self, token: Token) -> None:
        lifetime = max(float(token.expires_in), 0.0)
        # Stop using a token a margin before expiry, but never spend more than half a short lifetime on it.
        usable = lifetime - min(self._margin, lifetime / 2)
        if token.refresh_in is not None and token.refresh_in > 0:
            usable = min(usable, float(token.refresh_in))
        now = self._clock()
        self._value = token.value
        self._deadline = now + usable
        self._refresh_at = now + usable - min(self._refresh_ahead, usable / 2)
        self._failures, self._retry_at, self._error = 0, 0.0, None


def _consume(task: asyncio.Task[Any]) -> None:
    """A failed exchange is reported to whoever awaits it; never as 'exception never retrieved'."""
    if not task.cancelled():
        task.exception()


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
