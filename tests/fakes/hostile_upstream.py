"""A hostile OpenAI-compatible upstream: the real wire format, with the behaviours a broken or
malicious provider shows. The requested model picks one:

  redirect-<3xx>          that status with Location pointing at ``catcher`` (a second server that
                          records what reached it: nothing may)
  huge-<bytes>            a 200 JSON answer of about that size, with Content-Length
  huge-chunked-<bytes>    the same, chunked (no Content-Length)
  huge-error-<bytes>      a 500 with an error body of about that size
  slow-<seconds>          answers after that long; bumps ``gone`` if the caller disconnects first
  hold-stream-<seconds>   a stream: the first chunk at once, then silence for that long
  anything else           an ordinary answer (plain or streamed)

``POST /token-redirect`` is a token endpoint that answers 307 towards ``catcher``.

``black_hole()`` is a listening socket that never completes a TCP handshake (its accept queue is
full), for connect timeouts on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import socket

from aiohttp import web

from .openai_upstream import chunk, completion
from .server import FakeServer


def _padded(model: str, size: int) -> bytes:
    return json.dumps(completion(model, "x" * size)).encode()


async def _sleep_watching(request: web.Request, seconds: float) -> bool:
    """Sleep, polling the connection; False as soon as the caller has gone."""
    fake: FakeServer = request.app["fake"]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        await asyncio.sleep(0.05)
        if request.transport is None or request.transport.is_closing():
            fake.bump("gone")
            return False
    return True


def make_app(catcher_url: str) -> web.Application:
    app = web.Application()

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        model: str = body.get("model", "")
        fake: FakeServer = request.app["fake"]
        if model.startswith("redirect-"):
            status = int(model.removeprefix("redirect-"))
            return web.Response(status=status, headers={"Location": f"{catcher_url}/v1/chat/completions"})
        if model.startswith("huge-chunked-"):
            size = int(model.removeprefix("huge-chunked-"))
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            data = _padded(model, size)
            for start in range(0, len(data), 65536):
                await response.write(data[start:start + 65536])
            return response
        if model.startswith("huge-error-"):
            size = int(model.removeprefix("huge-error-"))
            error = {"error": {"message": "e" * size, "type": "server_error", "param": None, "code": None}}
            return web.json_response(error, status=500)
        if model.startswith("huge-"):
            return web.Response(body=_padded(model, int(model.removeprefix("huge-"))), content_type="application/json")
        if model.startswith("slow-"):
            if not await _sleep_watching(request, float(model.removeprefix("slow-"))):
                return web.Response(status=499)
            fake.bump("slow_answered")
        if not body.get("stream"):
            return web.json_response(completion(model, "fine"))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(chunk(model, {"role": "assistant", "content": ""}))
        if model.startswith("hold-stream-"):
            if not await _sleep_watching(request, float(model.removeprefix("hold-stream-"))):
                return response
        await response.write(chunk(model, {"content": "fine"}))
        await response.write(chunk(model, {}, "stop"))
        await response.write(b"data: [DONE]\n\n")
        return response

    async def token_redirect(request: web.Request) -> web.Response:
        # A token endpoint (watsonx IAM here) that redirects: the form carries the long-lived key.
        return web.Response(status=307, headers={"Location": f"{catcher_url}/identity/token"})

    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/token-redirect", token_redirect)
    return app


def start_catcher() -> FakeServer:
    """Anything that reaches this server followed a redirect: tests assert it saw nothing."""
    app = web.Application()

    async def anything(request: web.Request) -> web.Response:
        return web.json_response(completion("caught", "followed the redirect"))

    app.router.add_route("*", "/{tail:.*}", anything)
    return FakeServer(app).start()


def start(catcher_url: str) -> FakeServer:
    return FakeServer(make_app(catcher_url)).start()


def black_hole() -> tuple[socket.socket, list[socket.socket], int]:
    """A port where connecting hangs: backlog 0, and its one queue place already taken."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=2)
    return listener, [filler], port
