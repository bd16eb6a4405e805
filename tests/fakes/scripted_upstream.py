"""A scriptable OpenAI-compatible upstream for routing tests: one instance per deployment.

Speaks OpenAI's wire format (Bearer auth, JSON answers, SSE chunks ending in ``[DONE]``, OpenAI
error bodies). What it does with each request comes from ``script`` (consumed one step per
request) and then ``default``:

  ok            answer normally; the text names this upstream ("served by NAME")
  500 / 503     that status with an OpenAI error body
  429 / 429:N   rate limited, with ``Retry-After: N`` when N is given
  400           a plain invalid-request 400
  context       400 with code ``context_length_exceeded`` (as OpenAI sends it)
  policy        400 with code ``content_policy_violation``
  hang          accept the request and never send the headers
  slow:S        wait S seconds, then answer normally
  hold          wait until ``release()`` is called, then answer normally
  stall         streams: send the first chunk, then nothing (non-streamed: like hang)
  drop          streams: send the first chunk, then drop the connection

Every request's arrival time (``time.monotonic()``) is kept in ``arrivals``, so tests count
attempts and measure the backoff between them.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from .openai_upstream import chunk, completion, openai_error
from .server import FakeServer

KEY = "sk-fake-openai"


class Scripted:
    def __init__(self, name: str, default: str = "ok", api_key: str = KEY) -> None:
        self.name = name
        self.default = default
        self.api_key = api_key
        self.script: list[str] = []
        self.arrivals: list[float] = []
        self.released = False
        self._stopping = False
        self.server = FakeServer(self._app())

    # --- control from the test -----------------------------------------------------------------

    def start(self) -> Scripted:
        self.server.start()
        return self

    def stop(self) -> None:
        self.released = True
        self._stopping = True
        self.server.stop()

    @property
    def base_url(self) -> str:
        return f"{self.server.url}/v1"

    @property
    def count(self) -> int:
        return len(self.arrivals)

    def release(self) -> None:
        self.released = True

    def reset(self, default: str = "ok") -> None:
        self.default = default
        self.script.clear()
        self.arrivals.clear()
        self.released = False

    # --- the server ----------------------------------------------------------------------------

    async def _forever(self) -> None:
        """Hang until the test ends (stop() ends it, so the server can shut down)."""
        while not self._stopping:
            await asyncio.sleep(0.05)

    def _next(self) -> str:
        return self.script.pop(0) if self.script else self.default

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        return app

    async def _early(self, step: str, stream: bool) -> web.Response | None:
        """The answer for error/delay steps; None means go on and answer normally."""
        kind, _, arg = step.partition(":")
        if kind in ("500", "503"):
            return openai_error(int(kind), f"fake upstream error {kind}")
        if kind == "429":
            return openai_error(429, "Rate limit reached", "rate_limit_exceeded",
                                headers={"Retry-After": arg} if arg else None)
        if kind == "400":
            return openai_error(400, "Invalid value for 'temperature'", "invalid_value")
        if kind == "context":
            return openai_error(400, "This model's maximum context length is 8192 tokens.", "context_length_exceeded")
        if kind == "policy":
            return openai_error(400, "Your request was rejected by the safety system.", "content_policy_violation")
        if kind == "hang" or (kind == "stall" and not stream):
            await self._forever()
        if kind == "slow":
            await asyncio.sleep(float(arg))
        if kind == "hold":
            while not self.released:
                await asyncio.sleep(0.01)
        return None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.arrivals.append(time.monotonic())
        step = self._next()
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return openai_error(401, "Incorrect API key provided.", "invalid_api_key")
        body = await request.json()
        stream = bool(body.get("stream"))
        early = await self._early(step, stream)
        if early is not None:
            return early
        model = body.get("model", "")
        text = f"served by {self.name}"
        if not stream:
            return web.json_response(completion(model, text))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(chunk(model, {"role": "assistant", "content": ""}))
        if step == "stall":
            await self._forever()
        if step == "drop":
            await response.write(chunk(model, {"content": "partial"}))
            request.transport.close()
            return response
        for word in text.split(" "):
            await response.write(chunk(model, {"content": word + " "}))
        await response.write(chunk(model, {}, "stop"))
        await response.write(b"data: [DONE]\n\n")
        return response

    async def _embeddings(self, request: web.Request) -> web.Response:
        self.arrivals.append(time.monotonic())
        step = self._next()
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return openai_error(401, "Incorrect API key provided.", "invalid_api_key")
        body = await request.json()
        early = await self._early(step, False)
        if early is not None:
            return early
        return web.json_response({"object": "list", "model": body["model"],
                                  "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.25]}],
                                  "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": []})


def decode_sse(text: str) -> list[dict | str]:
    """The events of an SSE body: parsed JSON, or "[DONE]"."""
    events: list[dict | str] = []
    for block in text.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: "):
                data = line[6:]
                events.append(data if data == "[DONE]" else json.loads(data))
    return events
