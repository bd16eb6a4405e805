"""The one fetch-model-ids helper: a live list when the provider gives one, else the one fallback
(the configured list wins over both; the catalogue's when the fetch fails in any way)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from llmg.config import parse
from llmg.providers.model_ids import fetch_model_ids, ids_in_data
from llmg.providers.registry import instantiate, plan
from llmg.transports.aiohttp import AiohttpTransport
from tests.fakes.server import FakeServer


@pytest.fixture(scope="module")
def fake():
    app = web.Application()

    async def good(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "live-1"}, {"id": "live-2"}, {"nope": 1}]})

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    async def odd(request: web.Request) -> web.Response:
        return web.Response(text="<html>not json</html>", content_type="text/html")

    async def empty(request: web.Request) -> web.Response:
        return web.json_response({"data": []})

    async def bare(request: web.Request) -> web.Response:  # Together AI's shape: a bare array
        return web.json_response([{"id": "tg-1", "object": "model", "type": "chat"}, {"id": 7}, "x"])

    routes = (("/good", good), ("/broken", broken), ("/odd", odd), ("/empty", empty), ("/bare", bare))
    for path, handler in routes:
        app.router.add_get(path, handler)
    server = FakeServer(app).start()
    yield server
    server.stop()


def _ids(fake: FakeServer, path: str | None, config: str = "") -> list[str]:
    async def go() -> list[str]:
        transport = AiohttpTransport(pool_size=4)
        try:
            settings = plan(parse(f'[providers.openai]\napi_key = "sk-x"\nbase_url = "{fake.url}"\n{config}', "t", {}), {}).registered
            provider = instantiate(settings, transport)["openai"]
            return await fetch_model_ids(provider, f"{fake.url}{path}" if path else None, provider.headers, ids_in_data)
        finally:
            await transport.aclose()

    return asyncio.run(go())


def _catalogue() -> list[str]:
    settings = plan(parse('[providers.openai]\napi_key = "sk-x"\n', "t", {}), {}).registered
    return list(instantiate(settings, transport=None)["openai"].spec.models)  # type: ignore[arg-type]


def test_the_live_list_when_the_provider_gives_one(fake):
    assert _ids(fake, "/good") == ["live-1", "live-2"]


def test_a_bare_array_of_models_is_a_live_list_too(fake):
    assert _ids(fake, "/bare") == ["tg-1"]


@pytest.mark.parametrize("path", ["/broken", "/odd", "/empty", "/missing", None])
def test_any_failure_falls_back_to_the_catalogue(fake, path):
    assert _ids(fake, path) == _catalogue() and _catalogue()


def test_a_configured_list_wins_without_asking(fake):
    before = len(fake.requests)
    assert _ids(fake, "/good", 'models = ["mine"]') == ["mine"]
    assert len(fake.requests) == before  # the upstream was never asked
