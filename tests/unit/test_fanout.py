"""llmg.providers.fanout: the bounded, ordered fan-out the Titan and gemini-embedding-001 batches use."""

from __future__ import annotations

import asyncio

import pytest

from llmg.providers.fanout import bounded, chunks


def test_chunks():
    assert chunks([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert chunks([1, 2], 250) == [[1, 2]]
    assert chunks([1, 2, 3], 1) == [[1], [2], [3]]


def test_results_keep_input_order_and_the_limit_holds():
    running, peak = 0, 0

    async def call(n: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (7 - n % 7))  # later items finish first
        running -= 1
        return n * 10

    assert asyncio.run(bounded(list(range(30)), call, 4)) == [n * 10 for n in range(30)]
    assert peak == 4


def test_first_failure_is_raised_and_the_rest_cancelled():
    started: list[int] = []
    cancelled: list[int] = []

    async def call(n: int) -> int:
        started.append(n)
        if n == 2:
            raise ValueError("bad input 2")
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            cancelled.append(n)
            raise
        return n

    async def run() -> None:
        with pytest.raises(ValueError, match="bad input 2"):
            await bounded(list(range(10)), call, 3)

    asyncio.run(run())
    assert sorted(cancelled) == [0, 1] and max(started) == 2  # nothing started after the failure
