"""The overload gate (llmg/transports/gate.py) on MockTransport: caps refuse at once, the pool
wait is bounded, and a cancelled or closed call gives its slot back exactly once."""

from __future__ import annotations

import asyncio

import pytest

from llmg.errors import Overloaded
from llmg.transports import Timeout
from llmg.transports.gate import GatedTransport
from llmg.transports.mock import MockAnswer, MockRequest, MockTransport

T = Timeout(total=5, connect=1)


def gated(pool_size: int = 8, max_in_flight: int = 8, pool_timeout: float = 5.0, caps=None):
    release = asyncio.Event()

    async def handler(request: MockRequest) -> MockAnswer:
        if "wait" in request.url:
            await release.wait()
        return MockAnswer(200, body=b"{}")

    inner = MockTransport(handler)
    gate = GatedTransport(inner, pool_size=pool_size, pool_timeout=pool_timeout, max_in_flight=max_in_flight,
                          provider_caps=caps)
    return gate, release


def post(gate: GatedTransport, url: str = "http://u/wait", provider: str = "p"):
    return gate.request("POST", url, headers={}, body=b"{}", timeout=T, provider=provider)


def test_server_cap_refuses_at_once_and_frees_after() -> None:
    async def scenario() -> None:
        gate, release = gated(max_in_flight=2)
        running = [asyncio.ensure_future(post(gate)) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded) as caught:
            await post(gate, "http://u/fast")
        assert (caught.value.status, caught.value.code, caught.value.headers) == (503, "overloaded", {"retry-after": "1"})
        release.set()
        await asyncio.gather(*running)
        assert gate.in_flight == 0
        assert (await post(gate, "http://u/fast")).status == 200

    asyncio.run(scenario())


def test_provider_cap_only_limits_that_provider() -> None:
    async def scenario() -> None:
        gate, release = gated(caps={"small": 1})
        held = asyncio.ensure_future(post(gate, provider="small"))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded):
            await post(gate, "http://u/fast", provider="small")
        assert (await post(gate, "http://u/fast", provider="other")).status == 200
        release.set()
        await held
        assert (await post(gate, "http://u/fast", provider="small")).status == 200

    asyncio.run(scenario())


def test_pool_wait_is_bounded_then_503() -> None:
    async def scenario() -> None:
        gate, release = gated(pool_size=1, pool_timeout=0.2)
        held = asyncio.ensure_future(post(gate))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded) as caught:
            await post(gate, "http://u/fast")
        assert caught.value.code == "pool_timeout"
        release.set()
        await held
        assert gate._plain_slots.used == 0 and gate.in_flight == 0

    asyncio.run(scenario())


def test_pool_slot_is_handed_to_the_next_waiter() -> None:
    async def scenario() -> None:
        gate, release = gated(pool_size=1)
        held = asyncio.ensure_future(post(gate))
        await asyncio.sleep(0)
        waiting = asyncio.ensure_future(post(gate, "http://u/fast"))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        release.set()
        assert (await waiting).status == 200
        await held
        assert gate._plain_slots.used == 0

    asyncio.run(scenario())


def test_cancelled_call_frees_its_slot_at_once() -> None:
    async def scenario() -> None:
        gate, _ = gated(pool_size=1, max_in_flight=1)
        held = asyncio.ensure_future(post(gate))
        await asyncio.sleep(0)
        held.cancel()  # the client went away
        with pytest.raises(asyncio.CancelledError):
            await held
        assert gate.in_flight == 0 and gate._plain_slots.used == 0
        assert (await asyncio.wait_for(post(gate, "http://u/fast"), 1)).status == 200

    asyncio.run(scenario())


def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    async def scenario() -> None:
        gate, release = gated(pool_size=1)
        held = asyncio.ensure_future(post(gate))
        await asyncio.sleep(0)
        waiter = asyncio.ensure_future(post(gate, "http://u/fast"))
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        release.set()
        await held
        assert gate._plain_slots.used == 0 and gate.in_flight == 0

    asyncio.run(scenario())


def test_stream_holds_its_slot_until_closed_once() -> None:
    async def scenario() -> None:
        gate, _ = gated(pool_size=1, max_in_flight=4, pool_timeout=0.1)
        stream = await gate.stream("POST", "http://u/fast", headers={}, body=b"{}", timeout=T, provider="p")
        assert gate.in_flight == 1
        with pytest.raises(Overloaded):
            await gate.stream("POST", "http://u/fast", headers={}, body=b"{}", timeout=T, provider="p")
        await stream.aclose()
        await stream.aclose()  # idempotent: the slot is given back once
        assert gate.in_flight == 0 and gate._stream_slots.used == 0
        again = await gate.stream("POST", "http://u/fast", headers={}, body=b"{}", timeout=T, provider="p")
        await again.aclose()

    asyncio.run(scenario())


def test_stream_dropped_without_aclose_gives_its_slot_back() -> None:
    async def scenario() -> None:
        gate, _ = gated(pool_size=1, max_in_flight=4, pool_timeout=0.1)
        stream = await gate.stream("POST", "http://u/fast", headers={}, body=b"{}", timeout=T, provider="p")
        assert gate.in_flight == 1
        del stream  # a caller failed between opening and relaying it
        assert gate.in_flight == 0 and gate._stream_slots.used == 0

    asyncio.run(scenario())


def test_relay_closed_before_its_first_chunk_closes_the_upstream() -> None:
    """A client gone before the first chunk: closing() must still close the upstream stream
    (an async generator's aclose() before it started would skip its finally)."""
    from llmg.providers.base import closing

    async def scenario() -> None:
        inner = MockTransport(lambda r: MockAnswer(200, {"content-type": "text/event-stream"}, [b"data: 1\n\n"] * 3))
        gate = GatedTransport(inner, pool_size=1, pool_timeout=0.1, max_in_flight=4)
        stream = await gate.stream("POST", "http://u/s", headers={}, body=b"{}", timeout=T, provider="p")
        relay = closing(stream, stream.chunks())
        await relay.aclose()
        assert inner.open_streams == 0 and gate.in_flight == 0
        # and a relay read to its end closes it too
        stream = await gate.stream("POST", "http://u/s", headers={}, body=b"{}", timeout=T, provider="p")
        assert [c async for c in closing(stream, stream.chunks())] == [b"data: 1\n\n"] * 3
        assert inner.open_streams == 0 and gate.in_flight == 0

    asyncio.run(scenario())
