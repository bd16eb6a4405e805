"""A hostile or overloaded upstream, through the real gateway, on every transport (issue 9, 1-5).

One gateway per transport (``pool_size = 1`` so that a slot that is not freed shows at once) in
front of ``tests/fakes/hostile_upstream.py``, a real server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from llmg.transports import TRANSPORT_NAMES
from tests.fakes import hostile_upstream
from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess

SECRET = "sk-hostile-provider-secret"
BODY_CAP = 262144
# Transports whose complete-answer half aborts a request still waiting for its headers (pyreqwest
# 0.15 cannot: see llmg/transports/pyreqwest.py).
ABORTS_PLAIN = {"aiohttp", "httpx", "httpx-aiohttp", "h1"}


@pytest.fixture(scope="module")
def catcher() -> Iterator[FakeServer]:
    server = hostile_upstream.start_catcher()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hostile(catcher: FakeServer) -> Iterator[FakeServer]:
    server = hostile_upstream.start(catcher.url)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hole_port() -> Iterator[int]:
    listener, fillers, port = hostile_upstream.black_hole()
    yield port
    for sock in (*fillers, listener):
        sock.close()


@pytest.fixture(scope="module", params=TRANSPORT_NAMES)
def gateway(request, hostile: FakeServer, hole_port: int) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(f"""
[server]
transport = "{request.param}"
pool_size = 1
pool_timeout = 1.5
max_in_flight = 3
connect_timeout = 0.5
upstream_timeout = 3
max_upstream_body_bytes = {BODY_CAP}

[providers.hostile]
base_url = "{hostile.url}/v1"
api_key = "{SECRET}"

[providers.capped]
base_url = "{hostile.url}/v1"
api_key = "{SECRET}"
max_in_flight = 1

[providers.watsonx]
api_key = "{SECRET}"
base_url = "{hostile.url}"
params = {{ project_id = "p1", token_url = "{hostile.url}/token-redirect" }}

[providers.hole]
base_url = "http://127.0.0.1:{hole_port}/v1"
timeout = 8
""").start()
    gw.transport = request.param  # type: ignore[attr-defined]
    yield gw
    gw.stop()


def chat(gateway: GatewayProcess, model: str, stream: bool = False, timeout: float = 15) -> httpx.Response:
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=gateway.auth, timeout=timeout)


def error_of(response: httpx.Response) -> dict:
    assert SECRET not in response.text
    return response.json()["error"]


# --- 1. no redirects, ever ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [302, 307, 308])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_redirect_is_refused_not_followed(gateway, hostile, catcher, status: int, stream: bool) -> None:
    catcher.clear()
    r = chat(gateway, f"hostile/redirect-{status}", stream)
    assert r.status_code == 502
    error = error_of(r)
    assert error["type"] == "provider_error" and error["code"] == "upstream_redirect"
    assert catcher.url not in r.text
    assert catcher.requests == []  # neither the key nor the prompt went anywhere


def test_token_exchange_does_not_follow_a_redirect(gateway, catcher) -> None:
    catcher.clear()
    r = chat(gateway, "watsonx/ibm/granite-3-8b-instruct")
    assert r.status_code == 502
    assert error_of(r)["code"] == "upstream_redirect"
    assert catcher.requests == []  # the IBM API key in the form body went nowhere


# --- 5. bounded upstream answers ------------------------------------------------------------------


@pytest.mark.parametrize("model", [f"hostile/huge-{3 * BODY_CAP}", f"hostile/huge-chunked-{3 * BODY_CAP}"])
def test_answer_over_the_body_cap_is_a_502(gateway, model: str) -> None:
    r = chat(gateway, model)
    assert r.status_code == 502
    assert error_of(r)["code"] == "upstream_body_too_large"


def test_answer_under_the_body_cap_passes(gateway) -> None:
    r = chat(gateway, f"hostile/huge-chunked-{BODY_CAP // 2}")
    assert r.status_code == 200
    assert len(r.json()["choices"][0]["message"]["content"]) == BODY_CAP // 2


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_error_body_over_64_kib_is_a_502(gateway, stream: bool) -> None:
    r = chat(gateway, "hostile/huge-error-100000", stream)
    assert r.status_code == 502
    assert error_of(r)["code"] == "upstream_body_too_large"


# --- 4. every timeout on every transport ----------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_slow_upstream_is_a_504(gateway, stream: bool) -> None:
    start = time.monotonic()
    r = chat(gateway, "hostile/slow-6", stream)
    assert r.status_code == 504
    assert error_of(r)["type"] == "timeout_error"
    assert time.monotonic() - start < 5.5  # upstream_timeout is 3 s; the fake would answer at 6 s


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_connect_timeout_applies(gateway, stream: bool) -> None:
    # The provider's timeout is 8 s; connecting to the black hole must give up after 0.5 s.
    start = time.monotonic()
    r = chat(gateway, "hole/any", stream)
    assert r.status_code == 504
    assert error_of(r)["type"] == "timeout_error"
    assert time.monotonic() - start < 5


# --- 2. cancellation reaches the upstream -------------------------------------------------------


def test_disconnect_frees_the_slot_of_a_plain_call(gateway, hostile) -> None:
    hostile.events.clear()
    with pytest.raises(httpx.ReadTimeout):
        chat(gateway, "hostile/slow-4", timeout=0.5)  # the client gives up and disconnects
    start = time.monotonic()
    r = chat(gateway, "hostile/fast")
    assert r.status_code == 200
    assert time.monotonic() - start < 2.5  # not after the first call's 4 s (pool_size = 1)
    if gateway.transport in ABORTS_PLAIN:
        deadline = time.monotonic() + 3
        while not hostile.events.get("gone") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hostile.events.get("gone") == 1 and not hostile.events.get("slow_answered")


def test_disconnect_mid_stream_closes_the_upstream_and_frees_the_slot(gateway, hostile) -> None:
    hostile.events.clear()
    body = {"model": "hostile/hold-stream-4", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, headers=gateway.auth, timeout=10) as r:
        assert r.status_code == 200
        next(r.iter_raw())  # the first chunk, then the client goes away
    start = time.monotonic()
    assert chat(gateway, "hostile/fast", stream=True).status_code == 200
    assert time.monotonic() - start < 2.5
    deadline = time.monotonic() + 3
    while not hostile.events.get("gone") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hostile.events.get("gone") == 1


# --- 3. overload is refused, not queued for ever -----------------------------------------------


async def _open_stream(client: httpx.AsyncClient, gateway: GatewayProcess, model: str):
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    request = client.build_request("POST", f"{gateway.url}/v1/chat/completions", json=body, headers=gateway.auth)
    response = await client.send(request, stream=True)
    return response


def test_provider_cap_refuses_at_once_then_recovers(gateway) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            holding = await _open_stream(client, gateway, "capped/hold-stream-4")
            assert holding.status_code == 200
            start = time.monotonic()
            refused = await client.post(f"{gateway.url}/v1/chat/completions", headers=gateway.auth,
                                        json={"model": "capped/fast", "messages": [{"role": "user", "content": "hi"}]})
            assert time.monotonic() - start < 1.0
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            error = refused.json()["error"]
            assert error["type"] == "overloaded" and error["code"] == "overloaded"
            await holding.aclose()
            await asyncio.sleep(0.3)
            again = await client.post(f"{gateway.url}/v1/chat/completions", headers=gateway.auth,
                                      json={"model": "capped/fast", "messages": [{"role": "user", "content": "hi"}]})
            assert again.status_code == 200

    asyncio.run(scenario())


def test_server_cap_and_pool_timeout(gateway) -> None:
    """pool_size 1, max_in_flight 3: one stream holds the pool, two wait for it (then 503 after
    pool_timeout), the fourth is refused at once."""

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            holding = await _open_stream(client, gateway, "hostile/hold-stream-5")
            assert holding.status_code == 200
            start = time.monotonic()
            waiting = [asyncio.ensure_future(_open_stream(client, gateway, "hostile/fast")) for _ in range(2)]
            await asyncio.sleep(0.4)
            refused = await client.post(f"{gateway.url}/v1/chat/completions", headers=gateway.auth,
                                        json={"model": "hostile/fast", "messages": [{"role": "user", "content": "hi"}]})
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "overloaded"
            assert time.monotonic() - start < 1.4  # before the waiting ones' pool_timeout
            for response in await asyncio.gather(*waiting):
                assert response.status_code == 503
                await response.aread()
                assert response.json()["error"]["code"] == "pool_timeout"
                assert response.headers["retry-after"] == "1"
            assert time.monotonic() - start < 4.5  # pool_timeout is 1.5 s, not the stream's 5 s
            await holding.aclose()

    asyncio.run(scenario())
