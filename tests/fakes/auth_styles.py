"""One fake upstream per provider, each checking that provider's auth style, path and base.

Every provider gets its own port on 127.0.0.1 (one aiohttp app, one thread, many listening
sockets), and the port tells the fake which provider the request was meant for. The fake then
checks what that provider's real API checks:

- the auth style: ``Authorization: Bearer <key>``, a named key header (Azure's ``api-key``) with
  no Authorization header at all, or nothing when a local server runs without a key. A bare key
  in ``Authorization`` (the original LLMG's bug) is always rejected;
- the path: the exact chat / embeddings / models path under the provider's real base path
  (``/v1/openai/chat/completions`` for DeepInfra, ``/openai/deployments/<d>/chat/completions``
  for Azure, ...), so a wrong base or a doubled ``/v1`` answers 404;
- required query parameters (Azure's ``api-version``) and headers (OpenRouter's ``X-Title``, Public AI's
  ``User-Agent``);
- the body: ``messages`` for chat, ``input`` for embeddings.

Rejections use the provider family's real error shapes (OpenAI's envelope, Azure's
``{"error": {"code": "401", ...}}``). Accepted requests get OpenAI-shaped answers: a completion
whose text is ``echo: <last user text>``, SSE chunks ending in ``data: [DONE]`` when
``stream`` is true, embeddings, and a one-entry model list.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field

from aiohttp import web

from .openai_upstream import _last_user_text, chunk, completion
from .server import Received, free_port

AZURE_401 = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource."
)


@dataclass
class Expect:
    """What one provider's real API accepts."""

    name: str
    auth: str  # "bearer", "none", or the name of the header carrying the key
    key: str | None
    chat_path: str
    embeddings_path: str
    models_path: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    # Headers that must be present with any non-empty value (Public AI requires a User-Agent).
    present_headers: tuple[str, ...] = ()

    @property
    def models(self) -> list[str]:
        return [f"{self.name}-fake-model"]


def _openai_error(status: int, message: str, code: str | None) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return web.json_response(body, status=status)


def check_auth(expect: Expect, headers) -> web.Response | None:
    """None if the request carries exactly the auth this provider expects, else its real 401."""
    authorization = headers.get("Authorization")
    if authorization is not None and not authorization.startswith("Bearer "):
        return _openai_error(401, "Malformed Authorization header: expected the Bearer scheme", "invalid_api_key")
    if expect.key is None:  # a local server started without a key: nothing may be sent
        if authorization is not None:
            return _openai_error(401, "This server runs without a key; got an Authorization header", "unexpected_auth")
        return None
    if expect.auth in ("bearer", "none"):
        if authorization != f"Bearer {expect.key}":
            return _openai_error(401, "Incorrect API key provided.", "invalid_api_key")
        return None
    # A named key header (Azure's api-key): the key there, and no Authorization header at all.
    if headers.get(expect.auth) != expect.key or authorization is not None:
        return web.json_response({"error": {"code": "401", "message": AZURE_401}}, status=401)
    return None


class ProviderFakes:
    """Start with ``add(expect)`` for each provider (returns its port), then ``start()``."""

    def __init__(self) -> None:
        self.expects: dict[int, Expect] = {}
        self.requests: list[tuple[str, Received]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def add(self, expect: Expect) -> int:
        port = free_port()
        while port in self.expects:  # the OS may hand the same free port out twice
            port = free_port()
        self.expects[port] = expect
        return port

    def received(self, name: str) -> list[Received]:
        return [r for n, r in self.requests if n == name]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        port = request.transport.get_extra_info("sockname")[1]
        expect = self.expects[port]
        body = await request.read()
        self.requests.append(
            (expect.name, Received(request.method, request.path, dict(request.query),
                                   {k.lower(): v for k, v in request.headers.items()}, body))
        )
        if (denied := check_auth(expect, request.headers)) is not None:
            return denied
        for key, value in expect.headers.items():
            if request.headers.get(key) != value:
                return _openai_error(400, f"missing or wrong {key} header", "bad_header")
        for key in expect.present_headers:
            if not request.headers.get(key):
                return _openai_error(400, f"{key} header is required", "missing_header")
        for key, value in expect.query.items():
            if request.query.get(key) != value:
                return web.json_response(
                    {"error": {"code": "404", "message": "Resource not found"}}, status=404
                )
        method, path = request.method, request.path
        if method == "GET" and expect.models_path and path == expect.models_path:
            data = [{"id": m, "object": "model", "created": 0, "owned_by": expect.name} for m in expect.models]
            return web.json_response({"object": "list", "data": data})
        if method == "POST" and path == expect.chat_path:
            return await self._chat(request, body)
        if method == "POST" and path == expect.embeddings_path:
            return self._embeddings(body)
        return _openai_error(404, f"Unknown request URL: {method} {path}", "unknown_url")

    async def _chat(self, request: web.Request, body: bytes) -> web.StreamResponse:
        try:
            data = json.loads(body)
        except ValueError:
            return _openai_error(400, "We could not parse the JSON body of your request.", None)
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages:
            return _openai_error(400, "'messages' is a required property", None)
        model = data.get("model") or "deployment-model"
        text = f"echo: {_last_user_text(messages)}"
        if not data.get("stream"):
            return web.json_response(completion(model, text))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        await resp.write(chunk(model, {"role": "assistant", "content": ""}))
        for piece in ("echo: ", _last_user_text(messages)):
            await resp.write(chunk(model, {"content": piece}))
        await resp.write(chunk(model, {}, "stop"))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    def _embeddings(self, body: bytes) -> web.Response:
        data = json.loads(body)
        inputs = data.get("input")
        if inputs is None:
            return _openai_error(400, "'input' is a required property", None)
        items = inputs if isinstance(inputs, list) else [inputs]
        vectors = [{"object": "embedding", "index": i, "embedding": [0.25, -0.5, float(i)]} for i in range(len(items))]
        return web.json_response({"object": "list", "data": vectors, "model": data.get("model"),
                                  "usage": {"prompt_tokens": len(items), "total_tokens": len(items)}})

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        for port in self.expects:
            self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", port).start())
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> ProviderFakes:
        self._thread.start()
        if not self._ready.wait(20):
            raise RuntimeError("provider fakes did not start")
        return self

    def stop(self) -> None:
        fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        try:
            fut.result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
