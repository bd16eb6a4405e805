"""A fake OpenAI API: the real wire format (JSON bodies, SSE framing, error envelopes).

It checks ``Authorization: Bearer <key>`` like the real API and answers 401 with OpenAI's error
body otherwise. The requested model picks a behaviour, so one fake covers every path:

  error-400 / error-404 / error-401 / error-429 / error-500 / error-503   that status, OpenAI body
  error-context / error-quota / error-filter                              OpenAI's own bodies for a too-long
                                                                          prompt, an exhausted quota, a
                                                                          content-filtered prompt (Azure)
  slow-<seconds>                                                          answer after a delay
  stream-fail                                                             two chunks, then the connection drops
  no-done                                                                 a stream without [DONE]
  slow-stream                                                             chunks 0.3 s apart (10 of them)
  html-200                                                                a 200 with an HTML page (a broken proxy)
  json-stream                                                             answers a stream request with plain JSON
  anything else                                                           "echo: <last user text>"

An image part outside a user message is OpenAI's 400 ("Image URLs are only allowed for messages
with role 'user'"), as the real API answers it.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from . import openai_inbound
from .server import FakeServer

ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
               429: "requests", 500: "server_error", 503: "server_error"}


def openai_error(status: int, message: str, code: str | None = None, headers: dict | None = None,
                 type_: str | None = None, param: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": type_ or ERROR_TYPES.get(status, "invalid_request_error"),
                      "param": param, "code": code}}
    # The real API pretty-prints its error bodies.
    return web.Response(text=json.dumps(body, indent=2), status=status, headers=headers, content_type="application/json")


# The bodies OpenAI (and Azure, for the filter) send, as documented and as clients branch on them.
NAMED_ERRORS = {
    "error-context": (400, "This model's maximum context length is 128000 tokens. However, your messages "
                           "resulted in 130017 tokens. Please reduce the length of the messages.",
                      "context_length_exceeded", "invalid_request_error", "messages"),
    "error-quota": (429, "You exceeded your current quota, please check your plan and billing details.",
                    "insufficient_quota", "insufficient_quota", None),
    "error-filter": (400, "The response was filtered due to the prompt triggering Azure OpenAI's content "
                          "management policy.", "content_filter", "invalid_request_error", "prompt"),
}


def _last_user_text(messages: list) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p["text"] for p in content
                                if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str))
    return ""


def _misplaced_image(messages: list) -> web.Response | None:
    """OpenAI takes image parts in user messages only (a tool's or system's image is a 400)."""
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        role = message.get("role") if isinstance(message, dict) else None
        if role != "user" and isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "image_url" for p in content):
            return openai_error(400, f"Invalid 'messages[{i}]'. Image URLs are only allowed for messages with role 'user', "
                                     f"but this message with role '{role}' contains an image URL.",
                                code="invalid_value", param=f"messages[{i}]")
    return None


def completion(model: str, text: str) -> dict:
    return {
        "id": "chatcmpl-fake123",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
                  "prompt_tokens_details": {"cached_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0}},
    }


def chunk(model: str, delta: dict, finish: str | None = None) -> bytes:
    data = {"id": "chatcmpl-fake123", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def make_app(api_key: str = "sk-fake-openai") -> web.Application:
    app = web.Application()

    def authorized(request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {api_key}"

    def unauthorized() -> web.Response:
        return openai_error(401, "Incorrect API key provided: sk-fa***. You can find your API key at "
                                 "https://platform.openai.com/account/api-keys.", "invalid_api_key")

    async def behaviour(model: str) -> web.Response | None:
        if model in NAMED_ERRORS:
            status, message, code, type_, param = NAMED_ERRORS[model]
            return openai_error(status, message, code, type_=type_, param=param)
        if model.startswith("error-"):
            status = int(model.split("-", 1)[1])
            headers = {"Retry-After": "7"} if status == 429 else None
            code = "rate_limit_exceeded" if status == 429 else None
            return openai_error(status, f"fake upstream error {status}", code, headers=headers)
        if model.startswith("slow-") and model != "slow-stream":
            await asyncio.sleep(float(model.split("-", 1)[1]))
        return None

    async def chat(request: web.Request) -> web.StreamResponse:
        if not authorized(request):
            return unauthorized()
        try:
            body = await request.json()
        except ValueError:
            return openai_error(400, "We could not parse the JSON body of your request.")
        model = body.get("model", "")
        early = await behaviour(model)
        if early is not None:
            return early
        misplaced = _misplaced_image(body.get("messages", []))
        if misplaced is not None:
            return misplaced
        text = "echo: " + _last_user_text(body.get("messages", []))
        if model == "html-200":
            return web.Response(text="<html><body>Welcome to the proxy</body></html>", content_type="text/html")
        if not body.get("stream") or model == "json-stream":
            return web.json_response(completion(model, text))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        fake: FakeServer = request.app["fake"]
        try:
            await response.write(chunk(model, {"role": "assistant", "content": ""}))
            if model == "slow-stream":
                for i in range(10):
                    await asyncio.sleep(0.3)
                    await response.write(chunk(model, {"content": f"part{i} "}))
            elif model == "stream-fail":
                await response.write(chunk(model, {"content": "partial"}))
                request.transport.close()  # drop the connection mid-stream
                return response
            else:
                for word in text.split(" "):
                    await response.write(chunk(model, {"content": word + " "}))
            await response.write(chunk(model, {}, "stop"))
            options = body.get("stream_options") or {}
            if options.get("include_usage"):
                usage = {"id": "chatcmpl-fake123", "object": "chat.completion.chunk", "created": 0,
                         "model": model, "choices": [],
                         "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
                await response.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
            if model != "no-done":
                await response.write(b"data: [DONE]\n\n")
            fake.bump("streams_completed")
        except (ConnectionResetError, asyncio.CancelledError):
            fake.bump("streams_abandoned")
            raise
        return response

    async def embeddings(request: web.Request) -> web.Response:
        if not authorized(request):
            return unauthorized()
        body = await request.json()
        early = await behaviour(body.get("model", ""))
        if early is not None:
            return early
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(len(inputs))]
        return web.json_response({"object": "list", "data": data, "model": body["model"],
                                  "usage": {"prompt_tokens": 3, "total_tokens": 3}})

    async def models(request: web.Request) -> web.Response:
        if not authorized(request):
            return unauthorized()
        return web.json_response({"object": "list", "data": [
            {"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"},
            {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
        ]})

    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_get("/v1/models", models)
    openai_inbound.install(app, authorized, unauthorized)  # /v1/responses, /v1/completions
    return app


def start(api_key: str = "sk-fake-openai") -> FakeServer:
    return FakeServer(make_app(api_key)).start()
