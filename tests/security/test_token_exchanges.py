"""Issue 9 item 9: token exchanges. One exchange in flight shared by every waiter (success and
failure), an exchange timeout of its own, backoff with jitter after repeated failures, refresh
ahead of expiry, and a cancelled waiter never cancels or restarts the shared exchange.

End to end through the real gateway and the real watsonx fake (its IAM endpoint counts every
attempt); the timeout case drives the adapter's real exchange over the real transport in-process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from llmg.errors import GatewayError
from llmg.providers.base import Settings
from llmg.providers.catalogue import load_catalogue
from llmg.providers.token_cache import TokenCache
from llmg.providers.watsonx import WatsonxProvider
from llmg.transports import Timeout, open_transport
from tests.fakes import watsonx_upstream
from tests.fakes.server import FakeServer
from tests.providers.test_watsonx import KEY, MODEL, _config

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = watsonx_upstream.start(KEY)
    yield server
    server.stop()


def last_token_used(fake) -> str:
    return [r for r in fake.requests if r.path == "/ml/v1/text/chat"][-1].headers["authorization"].removeprefix("Bearer ")


def chat(gateway, timeout: float = 20) -> httpx.Response:
    return httpx.post(f"{gateway.url}/v1/chat/completions", json=CHAT, headers=gateway.auth, timeout=timeout)


async def burst(gateway, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=20) as client:
        return await asyncio.gather(*(client.post(f"{gateway.url}/v1/chat/completions", json=CHAT, headers=gateway.auth)
                                      for _ in range(n)))


def test_concurrent_waiters_share_one_exchange_success_and_failure(fake, start_gateway):
    fake.app["settings"].update(delay=0.5, fail_status=503)
    gateway = start_gateway(_config(fake))
    fake.clear()
    failed = asyncio.run(burst(gateway, 8))
    assert [r.status_code for r in failed] == [502] * 8
    assert fake.events.get("token_requests") == 1  # eight waiters, one failed exchange
    fake.app["settings"].update(fail_status=None)
    time.sleep(1.2)  # past any backoff
    fake.clear()
    served = asyncio.run(burst(gateway, 8))
    assert [r.status_code for r in served] == [200] * 8
    assert fake.events.get("token_requests") == 1 and fake.events.get("token_exchanges") == 1


def test_cancelled_waiter_neither_cancels_nor_restarts_the_exchange(fake, start_gateway):
    fake.app["settings"].update(delay=1.0)
    gateway = start_gateway(_config(fake))
    fake.clear()

    async def scenario() -> httpx.Response:
        async with httpx.AsyncClient(timeout=20) as client:
            quitter = asyncio.create_task(client.post(f"{gateway.url}/v1/chat/completions", json=CHAT, headers=gateway.auth))
            await asyncio.sleep(0.3)
            stayer = asyncio.create_task(client.post(f"{gateway.url}/v1/chat/completions", json=CHAT, headers=gateway.auth))
            await asyncio.sleep(0.2)
            quitter.cancel()  # the first client goes away while the exchange it started is in flight
            await asyncio.gather(quitter, return_exceptions=True)
            return await stayer

    assert asyncio.run(scenario()).status_code == 200
    assert fake.events.get("token_requests") == 1 and fake.events.get("token_exchanges") == 1


def test_repeated_failures_back_off(fake, start_gateway):
    fake.app["settings"].update(fail_status=500)
    gateway = start_gateway(_config(fake))
    time.sleep(0.5)
    fake.clear()
    statuses = [chat(gateway).status_code for _ in range(10)]
    assert statuses == [502] * 10
    # The first failure is retried by the next request; from the second on, requests fail fast
    # until the jittered delay (0.5-1 s after the second failure) has passed.
    assert fake.events.get("token_requests", 0) <= 3
    fake.app["settings"].update(fail_status=None)
    deadline = time.monotonic() + 10
    while chat(gateway).status_code != 200:
        assert time.monotonic() < deadline, "never recovered after the backoff"
        time.sleep(0.2)
    assert fake.events.get("token_exchanges") == 1


def test_refresh_ahead_of_expiry_does_not_make_a_request_wait(fake, start_gateway):
    fake.app["settings"].update(expires_in=8)  # used for 4 s; refreshed in the background after 2 s
    gateway = start_gateway(_config(fake))
    assert chat(gateway).status_code == 200
    first = set(fake.app["tokens"])
    assert fake.events.get("token_exchanges") == 1
    fake.app["settings"].update(delay=1.5)  # a refresh now takes 1.5 s: nobody may wait for it
    time.sleep(2.4)
    started = time.monotonic()
    assert chat(gateway).status_code == 200
    assert time.monotonic() - started < 1.2  # answered with the current token
    assert last_token_used(fake) in first
    deadline = time.monotonic() + 5
    while fake.events.get("token_exchanges", 0) < 2:
        assert time.monotonic() < deadline, "no background refresh"
        time.sleep(0.05)
    time.sleep(0.2)
    assert chat(gateway).status_code == 200
    assert last_token_used(fake) not in first


def test_exchange_has_its_own_timeout(fake):
    fake.app["settings"].update(delay=4)  # a hung token endpoint (longer than the exchange timeout)

    async def scenario() -> float:
        transport = open_transport("aiohttp", 4)
        try:
            settings = Settings(name="watsonx", spec=load_catalogue()["watsonx"], api_key=KEY, base_url=fake.url,
                                timeout=Timeout(total=60, connect=5), headers={}, models=None,
                                params={"project_id": "p", "token_url": f"{fake.url}/identity/token"})
            provider = WatsonxProvider(settings, transport)
            cache = TokenCache(provider._exchange, name="watsonx", exchange_timeout=0.5)
            started = time.monotonic()
            with pytest.raises(GatewayError) as info:
                await cache.get()
            assert info.value.status == 504 and info.value.code == "token_exchange_timeout"
            return time.monotonic() - started
        finally:
            await transport.aclose()

    assert asyncio.run(scenario()) < 3  # the exchange timeout, not the provider's 60 s


def test_backoff_unit_is_jittered_and_capped():
    now = [0.0]
    attempts = []

    async def fetch():
        attempts.append(now[0])
        raise GatewayError("down", status=503)

    cache = TokenCache(fetch, clock=lambda: now[0], jitter=lambda: 0.0)

    async def scenario():
        for _ in range(2):
            with pytest.raises(GatewayError):
                await cache.get()
        assert len(attempts) == 2
        with pytest.raises(GatewayError) as info:  # backing off: no third attempt yet
            await cache.get()
        assert info.value.status == 503 and len(attempts) == 2
        now[0] += 0.5  # base 1 s x jitter factor 0.5
        with pytest.raises(GatewayError):
            await cache.get()
        assert len(attempts) == 3
        for _ in range(20):  # the delay doubles, up to the cap
            now[0] += 61
            with pytest.raises(GatewayError):
                await cache.get()
        assert cache._retry_at - now[0] <= 60

    asyncio.run(scenario())


def test_auth_failures_are_not_backed_off():
    attempts = []

    async def fetch():
        attempts.append(1)
        raise GatewayError("bad key", status=401)

    cache = TokenCache(fetch)

    async def scenario():
        for _ in range(4):
            with pytest.raises(GatewayError):
                await cache.get()

    asyncio.run(scenario())
    assert len(attempts) == 4  # a fixed credential works on the very next request
