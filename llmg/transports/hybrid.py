"""hybrid: each kind of exchange on the third-party client measured fastest for it (the default
until the in-loop ``h1`` transport measured faster for both kinds)."""

from __future__ import annotations

from .aiohttp import AiohttpTransport
from .base import Limits
from .pyreqwest import PyreqwestTransport


class HybridTransport:
    """Complete answers through pyreqwest, streams through aiohttp.

    The bake-off (benchmarks/results) found pyreqwest cheapest per non-streamed request (the
    parsing runs in Rust, off the event loop) but dearer per stream chunk (each chunk crosses from
    its runtime thread back to the loop), where aiohttp's in-loop reads win. Two pools, one per kind.
    """

    name = "hybrid"
    separate_pools = True  # the gate counts a slot pool for each kind

    def __init__(self, pool_size: int = 512, *, connect_timeout: float = 10.0, limits: Limits = Limits()) -> None:
        self._plain = PyreqwestTransport(pool_size, connect_timeout=connect_timeout, limits=limits)
        self._streams = AiohttpTransport(pool_size, connect_timeout=connect_timeout, limits=limits)
        self.request = self._plain.request
        self.stream = self._streams.stream

    async def aclose(self) -> None:
        await self._plain.aclose()
        await self._streams.aclose()
