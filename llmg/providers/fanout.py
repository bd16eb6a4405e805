"""Client-side batching for upstreams that take fewer inputs per request than the client sent.

Bedrock's Titan embedding models take one ``inputText`` per InvokeModel call and Vertex's
``gemini-embedding-001`` one instance per ``:predict``: a batch of N inputs becomes N upstream
requests. ``bounded`` runs them with at most ``limit`` in flight (so one large batch cannot open
hundreds of upstream connections at once), keeps the results in input order, and on the first
failure cancels the rest and raises that failure (the client gets one error, not a partial list).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size`` (one slice when size < 1)."""
    if size < 1 or len(items) <= size:
        return [items]
    return [items[i : i + size] for i in range(0, len(items), size)]


async def bounded(items: Sequence[T], call: Callable[[T], Awaitable[R]], limit: int) -> list[R]:
    """``[await call(item) for item in items]``, at most ``limit`` at a time, in input order."""
    if len(items) == 1:  # the common case: no tasks at all
        return [await call(items[0])]
    results: list[R | None] = [None] * len(items)
    todo = iter(range(len(items)))

    async def worker() -> None:
        # Workers pull the next index from one shared iterator: no queue, no per-item task.
        for index in todo:
            results[index] = await call(items[index])

    workers = [asyncio.ensure_future(worker()) for _ in range(max(1, min(limit, len(items))))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:  # a failure (or the client leaving) stops the rest
            if not task.done():
                task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return results  # type: ignore[return-value]  # every slot was filled: gather raised otherwise
