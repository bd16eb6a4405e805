"""What every transport shares: the request/answer types, the protocols, and the one mapping of
client-library failures to gateway errors.

Failures are raised as gateway errors once, here: a refused or broken connection is
``UpstreamUnavailable`` (502), a timeout is ``UpstreamTimeout`` (504), a redirect is a 502 (keys
never follow one), an answer over its size cap is a 502. Messages name the provider and the kind of
failure, never the URL (which may carry credentials) or a header.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from ..errors import GatewayError, ProviderError, UpstreamTimeout, UpstreamUnavailable

MiB = 1024 * 1024


@dataclass(slots=True, frozen=True)
class Timeout:
    total: float  # whole exchange for a plain request; longest silence between chunks for a stream
    connect: float


@dataclass(slots=True, frozen=True)
class Limits:
    """Per-worker bounds on what an upstream may send back and how long a caller waits for a slot."""

    max_body: int = 32 * MiB  # a complete (non-streamed) 2xx answer
    max_error_body: int = 64 * 1024  # any non-2xx answer, streamed or not
    pool_timeout: float = 10.0  # longest wait for a free pooled connection


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]  # keys lower-cased
    body: bytes


class UpstreamStream(Protocol):
    status: int
    headers: Mapping[str, str]

    def chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive; raises UpstreamUnavailable/UpstreamTimeout mid-way."""
        ...

    async def read(self) -> bytes:
        """The whole (remaining) body, at most ``Limits.max_error_body``: used for error answers."""
        ...

    async def aclose(self) -> None: ...


class Transport(Protocol):
    name: str

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        timeout: Timeout,
        provider: str,
    ) -> UpstreamResponse: ...

    async def stream(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        timeout: Timeout,
        provider: str,
    ) -> UpstreamStream: ...

    async def aclose(self) -> None: ...


# --- the one mapping of failures ----------------------------------------------------------------


def failure(exc: BaseException, provider: str, timeouts: tuple[type[BaseException], ...]) -> GatewayError:
    """The gateway error for a client library's exception: a timeout, or an unreachable upstream.

    Every transport catches ``timeouts + errors`` of its library in one ``except`` and raises this.
    """
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, timeouts):
        return UpstreamTimeout(f"{provider}: upstream timed out", code="upstream_timeout")
    return UpstreamUnavailable(f"{provider}: upstream connection failed ({type(exc).__name__})", code="upstream_unavailable")


def refuse_redirect(status: int, provider: str) -> None:
    """An upstream 3xx is never followed (it would carry the provider key and the prompt to
    wherever Location points) and never relayed: it is the provider's fault, a 502."""
    if 300 <= status < 400:
        raise ProviderError(f"{provider}: upstream answered with a redirect (HTTP {status}); redirects are not followed",
                            code="upstream_redirect")


def too_large(provider: str, cap: int) -> ProviderError:
    return ProviderError(f"{provider}: upstream answer exceeds {cap} bytes", code="upstream_body_too_large")


def cap_for(status: int, limits: Limits) -> int:
    return limits.max_body if status < 300 else limits.max_error_body


def declared_length(headers: Mapping[str, str]) -> int | None:
    """The body length the upstream announced, if it is plain bytes (not compressed, whose
    decoded size the header does not bound)."""
    if headers.get("content-encoding"):
        return None
    value = headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


async def read_capped(chunks: AsyncIterator[bytes], cap: int, provider: str) -> bytes:
    """Collect a body chunk by chunk, failing as soon as it passes ``cap`` (never buffering more)."""
    parts: list[bytes] = []
    size = 0
    async for data in chunks:
        size += len(data)
        if size > cap:
            raise too_large(provider, cap)
        parts.append(data)
    return b"".join(parts)


def lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
