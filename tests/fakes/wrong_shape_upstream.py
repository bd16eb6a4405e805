"""A hostile upstream that answers every translated provider's call with a 200 of the wrong shape.

Each answer is well-formed in the provider's own framing (JSON, SSE, AWS event-stream) but its
structure is wrong: numbers where the translator expects objects or lists. Token endpoints
(Vertex's OAuth, watsonx's IAM) answer correctly, so the call reaches the wrong-shaped part.
"""

from __future__ import annotations

import json

from aiohttp import web

from tests.fakes.bedrock_upstream import event_frame
from tests.fakes.server import FakeServer

# One object wrong for every translator: each key a translator reads, with a value of the wrong type.
WRONG = {"content": 7, "candidates": 7, "message": 7, "choices": 7, "embeddings": 7, "predictions": 7,
         "output": 7, "usage": 7, "id": ["x"], "stop_reason": "end_turn", "finish_reason": "COMPLETE",
         "stopReason": "end_turn", "results": 7, "model": 7}

# One wrong-shaped event per SSE dialect, with the event name its translator dispatches on.
SSE_EVENTS = {
    "anthropic": [("message_start", {"type": "message_start", "message": 7}),
                  ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": 7})],
    "cohere": [("message-start", {"type": "message-start", "delta": 7}),
               ("content-delta", {"type": "content-delta", "index": 0, "delta": 7})],
    "gemini": [(None, {"candidates": 7, "usageMetadata": 7})],
    "watsonx": [(None, {"choices": 7, "model_id": 7})],
}


def _sse(events: list[tuple[str | None, dict]]) -> bytes:
    out = b""
    for name, data in events:
        out += (f"event: {name}\n" if name else "").encode() + b"data: " + json.dumps(data).encode() + b"\n\n"
    return out


async def _stream(request: web.Request, payload: bytes, content_type: str) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"content-type": content_type})
    await response.prepare(request)
    await response.write(payload)
    await response.write_eof()
    return response


def make_app() -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.path
        body = await request.read()
        if path == "/token":  # Vertex service-account exchange
            return web.json_response({"access_token": "ya29.wrong-shape-token", "expires_in": 3600, "token_type": "Bearer"})
        if path == "/identity/token":  # watsonx IAM exchange
            return web.json_response({"access_token": "iam-wrong-shape-token", "expires_in": 3600, "token_type": "Bearer"})
        streamed = False
        try:
            streamed = bool(json.loads(body or b"{}").get("stream"))
        except (ValueError, AttributeError):
            pass
        if path.endswith("/converse-stream"):
            frames = event_frame("messageStart", {"role": 7}) + event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": 7})
            return await _stream(request, frames, "application/vnd.amazon.eventstream")
        if path.endswith(":streamGenerateContent"):
            return await _stream(request, _sse(SSE_EVENTS["gemini"]), "text/event-stream")
        if path.endswith("/text/chat_stream"):
            return await _stream(request, _sse(SSE_EVENTS["watsonx"]), "text/event-stream")
        if path.endswith("/messages") and streamed:
            return await _stream(request, _sse(SSE_EVENTS["anthropic"]), "text/event-stream")
        if path.endswith("/v2/chat") and streamed:
            return await _stream(request, _sse(SSE_EVENTS["cohere"]), "text/event-stream")
        return web.json_response(WRONG)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def start() -> FakeServer:
    return FakeServer(make_app()).start()
