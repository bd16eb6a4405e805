"""A hostile upstream that tries to make the gateway leak credentials.

Every error it answers echoes back everything it received: each header value (keys, bearer
tokens, custom auth headers) and the body, in every error format the adapters parse (OpenAI's
``error.message``, watsonx's ``errors[]``, a bare ``message``). Its token endpoints issue tokens
from ``TOKENS`` so a test knows exactly which exchanged tokens must never be shown. The model
name picks the behaviour: ``ok`` answers, ``slow`` hangs (timeouts), ``redirect`` answers 307,
``boom`` a 500, anything else a 400.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from tests.fakes.server import FakeServer

TOKENS = {
    "watsonx": "iam-LEAKCHECK-watsonx-token-7f3a9c",
    "vertex": "ya29.LEAKCHECK-vertex-token-51d0e2",
    "copilot": "tid=LEAKCHECK-copilot-token-c0ffee;exp=9999999999",
}


def _echo(status: int, request: web.Request, body: bytes) -> web.Response:
    said = "you sent: " + " | ".join(f"{k}={v}" for k, v in request.headers.items()) + " body=" + body.decode("utf-8", "replace")
    payload = {"error": {"message": said, "type": "invalid_request_error", "status": "INVALID_ARGUMENT"},
               "errors": [{"code": "leak", "message": said}], "message": said}
    return web.json_response(payload, status=status, headers={"x-echo": said[:2000]})


def make_app() -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        path = request.path
        if path == "/identity/token":
            return web.json_response({"access_token": TOKENS["watsonx"], "expires_in": 3600})
        if path == "/token":
            return web.json_response({"access_token": TOKENS["vertex"], "expires_in": 3600, "token_type": "Bearer"})
        if path == "/copilot_internal/v2/token":
            return web.json_response({"token": TOKENS["copilot"], "expires_at": int(time.time()) + 3600, "refresh_in": 1500,
                                      "endpoints": {"api": f"http://{request.host}"}})
        if path.startswith("/echo"):
            return _echo(400, request, body)
        try:
            model = str(json.loads(body or b"{}").get("model") or "")
        except ValueError:
            model = ""
        if path.endswith("/models") and request.method == "GET":
            return _echo(500, request, body)
        if "ok" in model.split("/")[-1].split(":")[0].split("-") and "/chat/completions" in path:
            return web.json_response({"id": "c1", "object": "chat.completion", "created": 1, "model": model,
                                      "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
                                      "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
        if "slow" in path or model.endswith("slow"):
            await asyncio.sleep(4)
            return _echo(400, request, body)
        if "redirect" in path or model.endswith("redirect"):
            return web.Response(status=307, headers={"location": f"http://{request.host}/echo?k=1"})
        if "boom" in path or model.endswith("boom"):
            return _echo(500, request, body)
        return _echo(400, request, body)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def start() -> FakeServer:
    return FakeServer(make_app()).start()
