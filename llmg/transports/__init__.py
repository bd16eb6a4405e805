"""The only package that talks HTTP to providers (one module per transport, like httpx's
``_transports/``).

A ``Transport`` sends one request and returns the whole answer (``request``) or an open stream
(``stream``). Implementations share the interface, selected by ``server.transport``: aiohttp,
httpx, httpx over aiohttp (``httpx-aiohttp``), pyreqwest (Rust reqwest), ``hybrid`` (pyreqwest for complete answers,
aiohttp for streams) and ``h1``, the default: our own HTTP/1.1 client on the event loop (asyncio
protocol + httptools), measured faster than ``hybrid`` for both kinds (benchmarks/README.md). ``mock.MockTransport`` calls a Python handler instead of
the network, for unit tests.

One transport, with its pooled client(s), is opened per worker at server start and closed at
stop, always behind the overload gate (``gate.py``). No transport follows a redirect; failures
and caps are mapped to gateway errors in ``base.py``, once.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..config import Config
from .base import Limits, Timeout, Transport, UpstreamResponse, UpstreamStream
from .gate import GatedTransport


def _classes() -> dict[str, type]:
    # Imported on demand: each module imports its client library, and a worker needs only one.
    from .aiohttp import AiohttpTransport
    from .h1 import H1Transport
    from .httpx import HttpxAiohttpTransport, HttpxTransport
    from .hybrid import HybridTransport
    from .pyreqwest import PyreqwestTransport

    return {
        "aiohttp": AiohttpTransport,
        "httpx": HttpxTransport,
        "httpx-aiohttp": HttpxAiohttpTransport,
        "pyreqwest": PyreqwestTransport,
        "hybrid": HybridTransport,
        "h1": H1Transport,
    }


TRANSPORT_NAMES = ("aiohttp", "httpx", "httpx-aiohttp", "pyreqwest", "hybrid", "h1")


def __getattr__(name: str) -> object:
    if name == "TRANSPORTS":  # the benchmarks' bake-off iterates over every transport
        return _classes()
    raise AttributeError(name)


def open_transport(
    name: str,
    pool_size: int,
    *,
    connect_timeout: float = 10.0,
    limits: Limits | None = None,
    max_in_flight: int = 1024,
    provider_caps: Mapping[str, int] | None = None,
) -> GatedTransport:
    limits = limits or Limits()
    inner = _classes()[name](pool_size, connect_timeout=connect_timeout, limits=limits)
    return GatedTransport(inner, pool_size=pool_size, pool_timeout=limits.pool_timeout,
                          max_in_flight=max_in_flight, provider_caps=provider_caps)


__all__ = ["Limits", "Timeout", "Transport", "UpstreamResponse", "UpstreamStream", "GatedTransport",
           "TRANSPORT_NAMES", "open_transport", "open_configured", "response_timeout"]


# --- from the validated config ----------------------------------------------------------------


def open_configured(config: Config) -> GatedTransport:
    """The worker's transport as ``[server]`` and ``[providers.*]`` describe it."""
    server = config.server
    limits = Limits(max_body=server.max_upstream_body_bytes, max_error_body=server.max_upstream_error_bytes,
                    pool_timeout=server.pool_timeout)
    caps = {name: p.max_in_flight for name, p in config.providers.items() if p.max_in_flight is not None}
    return open_transport(server.transport, server.pool_size, connect_timeout=server.connect_timeout, limits=limits,
                          max_in_flight=server.max_in_flight, provider_caps=caps)


def response_timeout(config: Config) -> float:
    """Sanic's RESPONSE_TIMEOUT (counted from the last byte sent): above the longest upstream
    timeout any provider has, plus the pool wait, so that the gateway's own 504 always comes
    first and Sanic never cuts a slow answer into a 500."""
    server = config.server
    longest = max([server.upstream_timeout, *(p.timeout for p in config.providers.values() if p.timeout),
                   *(d.timeout_s for g in config.groups.values() for d in g.deployments if d.timeout_s)])
    if config.groups:  # a group's last attempt may start just before its deadline
        longest += config.router.deadline_s
    return longest + server.pool_timeout + 30
