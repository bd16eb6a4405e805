"""POST /v1/chat/completions: plain and streamed."""

from __future__ import annotations

import msgspec
from sanic import Blueprint, HTTPResponse, Request

from ..schemas.openai import ChatCompletionRequest
from ..streaming import send_stream
from .common import reply, routed_call, stream_headers

bp = Blueprint("chat")
_decoder = msgspec.json.Decoder(ChatCompletionRequest)


@bp.post("/v1/chat/completions")
async def chat_completions(request: Request) -> HTTPResponse | None:
    provider, call = routed_call(request, _decoder)
    if call.request.stream:  # type: ignore[union-attr]
        chunks = await provider.chat_stream(call)  # upstream errors surface here, before any byte is sent
        await send_stream(request, chunks, stream_headers(chunks))
        return None
    return reply(await provider.chat(call))
