"""/v1/models prefers each provider's live model list; the catalogue's ids are only the fallback.

One gateway, three catalogued providers pointed at one fake upstream on 127.0.0.1:

- ``openai`` answers GET /v1/models in OpenAI's shape ``{"object": "list", "data": [{"id"...}]}``
  with an id the catalogue does not know: it must be listed, and the catalogue's ids must not;
- ``together_ai`` answers Together AI's real shape, a bare JSON array of model objects (its
  OpenAPI ``ModelInfoList``): read the same way;
- ``groq`` answers its model list with a 503 in OpenAI's error envelope: its catalogued ids stay.

Each list request must carry the provider's key as Bearer (the fake answers 401 otherwise, as
the real APIs do), so a refresh that forgot the auth would also fall back and fail here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from aiohttp import web

from llmg.providers.catalogue import load_catalogue
from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess

CATALOGUE = load_catalogue()
KEYS = {"openai": "sk-openai-live", "together_ai": "tg-live", "groq": "gsk-live"}
LIVE = {"openai": ["gpt-live-only-1", "gpt-live-only-2"], "together_ai": ["acme/Live-Only-70B"]}
# Where each provider's base URL points on the fake (the real base path kept where it has one).
BASES = {"openai": "/v1", "together_ai": "/together/v1", "groq": "/openai/v1"}


def _unauthorized() -> web.Response:
    error = {"message": "Incorrect API key provided.", "type": "invalid_request_error", "param": None,
             "code": "invalid_api_key"}
    return web.json_response({"error": error}, status=401)


def model_lists() -> FakeServer:
    app = web.Application()

    def checked(name: str, answer):
        async def handler(request: web.Request) -> web.Response:
            if request.headers.get("Authorization") != f"Bearer {KEYS[name]}":
                return _unauthorized()
            return answer()

        return handler

    def openai_shape() -> web.Response:
        data = [{"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "system"} for m in LIVE["openai"]]
        return web.json_response({"object": "list", "data": data})

    def together_shape() -> web.Response:  # a bare array, not {"data": [...]}
        return web.json_response([{"id": m, "object": "model", "created": 1_700_000_000, "type": "chat",
                                   "display_name": m, "organization": "Acme"} for m in LIVE["together_ai"]])

    def overloaded() -> web.Response:
        error = {"message": "Service Unavailable", "type": "internal_server_error", "code": "service_unavailable"}
        return web.json_response({"error": error}, status=503)

    app.router.add_get(f"{BASES['openai']}/models", checked("openai", openai_shape))
    app.router.add_get(f"{BASES['together_ai']}/models", checked("together_ai", together_shape))
    app.router.add_get(f"{BASES['groq']}/models", checked("groq", overloaded))
    return FakeServer(app).start()


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[FakeServer, GatewayProcess]]:
    fake = model_lists()
    config = "\n".join(
        f'[providers.{name}]\nbase_url = "{fake.url}{base}"\napi_key = "{KEYS[name]}"\n' for name, base in BASES.items()
    )
    gateway = GatewayProcess(config).start()
    yield fake, gateway
    gateway.stop()
    fake.stop()


def listed_after_refresh(fake: FakeServer, gateway: GatewayProcess) -> set[str]:
    """/v1/models once the background refresh has asked every provider and rebuilt the list (the
    directory rebuilds once per round, after all providers answered, so one live id showing
    means the whole round is in)."""
    deadline = time.monotonic() + 15
    listed: set[str] = set()
    while time.monotonic() < deadline:
        r = httpx.get(f"{gateway.url}/v1/models", headers=gateway.auth, timeout=5)
        assert r.status_code == 200
        listed = {m["id"] for m in r.json()["data"]}
        if f"openai/{LIVE['openai'][0]}" in listed:
            return listed
        time.sleep(0.2)
    raise AssertionError(f"the live list never replaced the catalogue's: {sorted(listed)}")


def test_the_catalogue_has_what_this_test_relies_on():
    for name in BASES:
        assert CATALOGUE[name].models_endpoint == "/models", name
    assert CATALOGUE["openai"].models and CATALOGUE["groq"].models and CATALOGUE["together_ai"].models
    assert not set(LIVE["openai"]) & set(CATALOGUE["openai"].models)
    assert not set(LIVE["together_ai"]) & set(CATALOGUE["together_ai"].models)


def test_live_list_replaces_the_catalogue_ids(world):
    fake, gateway = world
    listed = listed_after_refresh(fake, gateway)
    for name in ("openai", "together_ai"):
        assert {f"{name}/{m}" for m in LIVE[name]} <= listed, name
        stale = {f"{name}/{m}" for m in CATALOGUE[name].models} & listed
        assert not stale, f"{name}: catalogue ids listed although the live list answered: {sorted(stale)}"
    r = httpx.get(f"{gateway.url}/v1/models/openai%2F{LIVE['openai'][1]}", headers=gateway.auth, timeout=5)
    assert r.status_code == 200 and r.json()["id"] == f"openai/{LIVE['openai'][1]}"
    assert r.json()["owned_by"] == "openai"


def test_a_failing_live_list_falls_back_to_the_catalogue(world):
    fake, gateway = world
    listed = listed_after_refresh(fake, gateway)
    asked = [r for r in fake.requests if r.path == f"{BASES['groq']}/models"]
    assert asked and asked[0].headers.get("authorization") == f"Bearer {KEYS['groq']}"  # it was asked, and failed
    assert {f"groq/{m}" for m in CATALOGUE["groq"].models} <= listed
    assert not any(m.startswith("groq/") for m in listed - {f"groq/{m}" for m in CATALOGUE["groq"].models})


def test_each_list_request_carried_its_key(world):
    fake, gateway = world
    listed_after_refresh(fake, gateway)
    for name, base in BASES.items():
        sent = [r for r in fake.requests if r.path == f"{base}/models"]
        assert sent and all(r.method == "GET" and r.headers.get("authorization") == f"Bearer {KEYS[name]}" for r in sent)
    assert KEYS["openai"] not in gateway.output() and KEYS["together_ai"] not in gateway.output()
