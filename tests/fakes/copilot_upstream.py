"""A fake GitHub (device flow + Copilot token exchange) and Copilot chat API, on one server.

- ``POST /login/device/code`` and ``POST /login/oauth/access_token``: GitHub's OAuth device flow
  (https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#device-flow):
  form bodies, JSON answers when ``Accept: application/json``, HTTP 200 with ``error`` =
  ``authorization_pending`` / ``slow_down`` while the user has not authorized yet. Here the first
  poll is pending, the second says slow_down, the third returns ``GITHUB_TOKEN``.
- ``GET /copilot_internal/v2/token`` with ``Authorization: token <github token>`` ->
  ``{token, expires_at, refresh_in, endpoints: {api}}``; a wrong token gets GitHub's 401
  ``{"message": "Bad credentials", ...}``, ``NO_COPILOT_TOKEN`` gets 404. Exchanges are counted in
  ``fake.events["token_exchanges"]``.
- ``POST /chat/completions``: OpenAI format. Needs ``Authorization: Bearer <copilot token issued
  here and not revoked>`` (else 401 ``unauthorized: token expired``) and the editor headers
  (``Editor-Version``, ``Copilot-Integration-Id``; else 400 like the real service).
  Add a token to ``app["revoked"]`` to expire it early.
"""

from __future__ import annotations

import time
import uuid

from aiohttp import web

from . import openai_upstream
from .server import FakeServer

CLIENT_ID = "Iv1.b507a08c87ecfe98"
GITHUB_TOKEN = "gho_fakeGitHubOAuthToken0123456789"
NO_COPILOT_TOKEN = "gho_accountWithoutCopilot"
TOOL_CALL_ID = "call_copilot_1"
TOOL_ARGUMENTS = '{"city": "Paris"}'


def github_error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message, "documentation_url": "https://docs.github.com/rest", "status": str(status)}, status=status)


def make_app() -> web.Application:
    app = web.Application()
    app["tokens"] = set()
    app["revoked"] = set()
    app["polls"] = {}

    async def device_code(request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("client_id") != CLIENT_ID:
            return web.json_response({"error": "unauthorized_client", "error_description": "unknown client_id"}, status=400)
        code = uuid.uuid4().hex
        request.app["polls"][code] = 0
        return web.json_response({"device_code": code, "user_code": "WDJB-MJHT", "verification_uri": "https://github.com/login/device",
                                  "expires_in": 900, "interval": 0})

    async def access_token(request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:device_code":
            return web.json_response({"error": "unsupported_grant_type", "error_description": "grant_type must be device_code"})
        if form.get("client_id") != CLIENT_ID or form.get("device_code") not in request.app["polls"]:
            return web.json_response({"error": "incorrect_device_code", "error_description": "The device_code provided is not valid."})
        polls = request.app["polls"]
        polls[form["device_code"]] += 1
        n = polls[form["device_code"]]
        if n == 1:
            return web.json_response({"error": "authorization_pending", "error_description": "The authorization request is still pending."})
        if n == 2:
            return web.json_response({"error": "slow_down", "error_description": "Too many requests.", "interval": 0})
        return web.json_response({"access_token": GITHUB_TOKEN, "token_type": "bearer", "scope": "read:user"})

    async def copilot_token(request: web.Request) -> web.Response:
        fake: FakeServer = request.app["fake"]
        auth = request.headers.get("Authorization", "")
        if auth == f"token {NO_COPILOT_TOKEN}":
            return github_error(404, "Not Found")
        if auth != f"token {GITHUB_TOKEN}":
            return github_error(401, "Bad credentials")
        fake.bump("token_exchanges")
        now = int(time.time())
        value = f"tid={uuid.uuid4().hex};exp={now + 1800};sku=free_limited_copilot;chat=1"
        request.app["tokens"].add(value)
        return web.json_response({"token": value, "expires_at": now + 1800, "refresh_in": 1500,
                                  "endpoints": {"api": fake.url, "proxy": fake.url, "telemetry": fake.url},
                                  "chat_enabled": True, "sku": "free_limited_copilot"})

    async def chat(request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer ") or token not in request.app["tokens"] or token in request.app["revoked"]:
            return web.Response(status=401, text="unauthorized: token expired\n", content_type="text/plain")
        if not request.headers.get("Editor-Version"):
            return web.Response(status=400, text="bad request: missing Editor-Version header for IDE auth\n", content_type="text/plain")
        if request.headers.get("Copilot-Integration-Id") != "vscode-chat":
            return web.Response(status=400, text="bad request: unknown integration\n", content_type="text/plain")
        body = await request.json()
        images = any(isinstance(m.get("content"), list) and any(p.get("type") == "image_url" for p in m["content"])
                     for m in body.get("messages") or [])
        if images and request.headers.get("Copilot-Vision-Request") != "true":
            return web.Response(status=400, text="missing required Copilot-Vision-Request header for vision requests\n",
                                content_type="text/plain")
        if request.headers.get("X-Initiator") not in ("user", "agent"):
            return web.Response(status=400, text="bad request: X-Initiator must be user or agent\n", content_type="text/plain")
        model = body.get("model", "")
        if model.startswith("error-"):
            status = int(model.split("-", 1)[1])
            return openai_upstream.openai_error(status, f"fake copilot error {status}")
        last = body["messages"][-1]
        if body.get("tools") and last.get("role") != "tool":
            name = body["tools"][0]["function"]["name"]
            call = {"id": TOOL_CALL_ID, "type": "function", "function": {"name": name, "arguments": TOOL_ARGUMENTS}}
            if not body.get("stream"):
                answer = openai_upstream.completion(model, "")
                answer["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [call]}
                answer["choices"][0]["finish_reason"] = "tool_calls"
                return web.json_response(answer)
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write(openai_upstream.chunk(model, {"role": "assistant", "content": None, "tool_calls": [
                {"index": 0, "id": TOOL_CALL_ID, "type": "function", "function": {"name": name, "arguments": ""}}]}))
            for piece in ('{"city"', ': "Pa', 'ris"}'):
                await response.write(openai_upstream.chunk(model, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
            await response.write(openai_upstream.chunk(model, {}, "tool_calls"))
            await response.write(b"data: [DONE]\n\n")
            return response
        text = ("The tool said: " + last["content"]) if last.get("role") == "tool" else "echo: " + openai_upstream._last_user_text(body["messages"])
        if not body.get("stream"):
            return web.json_response(openai_upstream.completion(model, text))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(openai_upstream.chunk(model, {"role": "assistant", "content": ""}))
        for i, word in enumerate(text.split(" ")):
            await response.write(openai_upstream.chunk(model, {"content": word if i == 0 else " " + word}))
        await response.write(openai_upstream.chunk(model, {}, "stop"))
        await response.write(b"data: [DONE]\n\n")
        return response

    async def models(request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in request.app["tokens"] or token in request.app["revoked"]:
            return web.Response(status=401, text="unauthorized: token expired\n", content_type="text/plain")
        return web.json_response({"object": "list", "data": [
            {"id": "gpt-4.1", "object": "model", "vendor": "Azure OpenAI", "capabilities": {"type": "chat", "family": "gpt-4.1"}},
            {"id": "claude-sonnet-4", "object": "model", "vendor": "Anthropic", "capabilities": {"type": "chat", "family": "claude-sonnet-4"}},
            {"id": "text-embedding-3-small", "object": "model", "vendor": "Azure OpenAI", "capabilities": {"type": "embeddings"}},
        ]})

    app.router.add_get("/models", models)
    app.router.add_post("/login/device/code", device_code)
    app.router.add_post("/login/oauth/access_token", access_token)
    app.router.add_get("/copilot_internal/v2/token", copilot_token)
    app.router.add_post("/chat/completions", chat)
    return app


def start() -> FakeServer:
    return FakeServer(make_app()).start()
