"""/v1/models stays fast while a provider's own model list hangs or is unreachable."""

from __future__ import annotations

import asyncio
import time

import httpx
from aiohttp import web

from tests.fakes.server import FakeServer, free_port
from tests.gateway import GatewayProcess


def hanging_upstream() -> FakeServer:
    """Accepts the connection, then never answers GET /v1/models (a wedged provider)."""
    app = web.Application()
    release = asyncio.Event()  # set at the end so the server can shut down without waiting
    app["release"] = release

    async def models(request: web.Request) -> web.Response:
        try:
            await asyncio.wait_for(release.wait(), 60)
        except TimeoutError:
            pass
        return web.json_response({"object": "list", "data": []})

    app.router.add_get("/v1/models", models)
    return FakeServer(app).start()


def test_dead_provider_does_not_slow_the_model_list():
    hang = hanging_upstream()
    refused = free_port()  # nothing listens here: connection refused
    gateway = GatewayProcess(
        f"""
[providers.mock]

[providers.vllm]
base_url = "{hang.url}/v1"

[providers.lm_studio]
base_url = "http://127.0.0.1:{refused}/v1"
"""
    ).start()
    try:
        deadline = time.monotonic() + 10
        while not any(r.path == "/v1/models" for r in hang.requests) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(r.path == "/v1/models" for r in hang.requests), "the background refresh never asked the provider"
        # The provider's list request is now hanging; the route must answer from memory.
        timings = []
        for _ in range(5):
            start = time.perf_counter()
            r = httpx.get(f"{gateway.url}/v1/models", headers=gateway.auth, timeout=5)
            timings.append(time.perf_counter() - start)
            assert r.status_code == 200
            assert "mock/mock-1" in {m["id"] for m in r.json()["data"]}
        # The hanging fetch has an 8 s timeout: anything near it would mean the route waited on it.
        # 2 s leaves room for a loaded CI machine without letting a blocked route pass.
        assert max(timings) < 2.0, timings
        chat = httpx.post(f"{gateway.url}/v1/chat/completions", headers=gateway.auth, timeout=5,
                          json={"model": "mock/mock-1", "messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 200
    finally:
        gateway.stop()
        hang._loop.call_soon_threadsafe(hang.app["release"].set)
        hang.stop()
