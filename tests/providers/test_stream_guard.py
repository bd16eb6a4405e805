"""An upstream that ignores ``stream: true`` and answers a complete JSON body: every streaming adapter
(translated or passed through) answers 502 ``upstream_bad_response`` before the first byte,
instead of an empty stream or a "stream ended early" error event after a 200.

The fake is a real server that answers every chat path with ``application/json``, as a proxy or a
model without streaming support does. Copilot lacked this guard (issue 11 item 3)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from aiohttp import web

from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess

GITHUB_TOKEN = "gho_fake_github_token"
ANSWER = {"id": "x", "object": "chat.completion", "created": 1, "model": "m",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}


def _app() -> web.Application:
    app = web.Application()

    async def copilot_token(request: web.Request) -> web.Response:
        fake: FakeServer = request.app["fake"]
        return web.json_response({"token": "tid=1", "expires_at": int(time.time()) + 1800, "refresh_in": 1500,
                                  "endpoints": {"api": fake.url}})

    async def json_answer(request: web.Request) -> web.Response:
        return web.json_response(ANSWER)

    app.router.add_get("/copilot_internal/v2/token", copilot_token)
    app.router.add_post("/{tail:.*}", json_answer)
    return app


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    fake = FakeServer(_app()).start()
    gw = GatewayProcess(f"""
[providers.openai]
api_key = "sk-fake"
base_url = "{fake.url}/v1"
timeout = 5

[providers.anthropic]
api_key = "sk-ant-fake"
base_url = "{fake.url}/v1"
timeout = 5

[providers.gemini]
api_key = "fake-gemini-key"
base_url = "{fake.url}/v1beta"
timeout = 5

[providers.cohere]
api_key = "fake-cohere-key"
base_url = "{fake.url}"
timeout = 5

[providers.github_copilot]
timeout = 5
params = {{ token_url = "{fake.url}/copilot_internal/v2/token" }}
""", env={"GITHUB_COPILOT_TOKEN": GITHUB_TOKEN}).start()
    yield gw
    gw.stop()
    fake.stop()


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-flash",
                                   "cohere/command-a-03-2025", "github_copilot/gpt-4o"])
def test_a_json_answer_to_a_stream_request_is_a_502(gateway, model):
    r = httpx.post(f"{gateway.url}/v1/chat/completions", headers=gateway.auth, timeout=30, json={
        "model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 502, r.text
    error = r.json()["error"]
    assert error["code"] == "upstream_bad_response" and "without streaming" in error["message"]
