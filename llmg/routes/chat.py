"""POST /v1/chat/completions: plain and streamed."""

from __future__ import annotations

import msgspec
from sanic import Blueprint, HTTPResponse, Request

from ..routing import RoutedStream
from ..schemas.openai import ChatCompletionRequest
from ..streaming import send_stream
from .common import reply, routed_call

bp = Blueprint("chat")
_decoder = msgspec.json.Decoder(ChatCompletionRequest)


@bp.post("/v1/chat/completions")
async def chat_completions(request: Request) -> HTTPResponse | None:
    provider, call = routed_call(request, _decoder)
    if call.request.stream:  # type: ignore[union-attr]
        chunks = await provider.chat_stream(call)  # upstream errors surface here, before any byte is sent
        if type(chunks) is not RoutedStream:
            await send_stream(request, chunks)
            return None
        try:
            await send_stream(request, chunks, chunks.headers)
        finally:
            await chunks.aclose()  # releases the deployment even if the stream never started
        return None
    return reply(await provider.chat(call))
