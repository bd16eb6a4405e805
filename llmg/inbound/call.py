"""The shared step of every inbound translator: an internal chat body -> (provider, Call), and the
chat answer / chunk stream read back as plain data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
from sanic import Request

from ..errors import GatewayError, ProviderError
from ..providers.base import Call, Provider
from ..request_id import request_id
from ..runtime import current
from ..schemas.decode import decode
from ..schemas.openai import ChatCompletionRequest
from ..streaming import event_json, sse_events

_encode = msgspec.json.Encoder().encode
_chat = msgspec.json.Decoder(ChatCompletionRequest)


def resolve(request: Request, model: str) -> tuple[Provider, str, str]:
    """(provider, upstream model, full "provider/model") exactly as the chat route routes: a routing
    group's name gives the group itself (it answers chat and chat_stream like a provider)."""
    resolver = current(request).resolver
    groups = resolver.groups
    group = groups.get(model) if groups else None
    if group is not None:
        request.ctx.provider = model  # for the access log and upstream-failure warnings
        # A Group is not a Provider but answers chat/chat_stream like one (duck-typed here; a
        # Provider protocol that Group implements would let the signature say so).
        request.ctx.model = model  # observe
        return group, model, model  # type: ignore[return-value]
    routed: tuple[Provider, str, str] = resolver.resolve(model)
    request.ctx.provider = routed[0].name
    request.ctx.model = routed[2]  # observe: "provider/model"
    return routed


def chat_call(request: Request, body: dict[str, Any], routed: tuple[Provider, str, str]) -> Call:
    """A Call for the internal chat body, as if the client had sent it to /v1/chat/completions."""
    raw = _encode(body)
    chat = decode(raw, _chat)
    _, model, full = routed
    return Call(raw, chat, full, model, request_id(request))


def native_call(request: Request, raw: bytes, body: Any, routed: tuple[Provider, str, str]) -> Call:
    """A Call whose ``upstream_body()`` is the client's own bytes with only ``model`` rewritten."""
    _, model, full = routed
    return Call(raw, body, full, model, request_id(request))


def raise_error_chunk(chunk: dict[str, Any], provider: str) -> None:
    """A provider may report a failure mid-stream as an OpenAI error event; surface it as an error."""
    error = chunk.get("error")
    if isinstance(error, dict):
        raise GatewayError(
            str(error.get("message") or f"{provider}: stream failed"),
            status=502,
            type=str(error.get("type") or "provider_error"),
            code=error.get("code") if isinstance(error.get("code"), str) else "stream_error",
        )


async def chat_chunks(chunks: AsyncIterator[bytes], provider: str) -> AsyncIterator[dict[str, Any]]:
    """The JSON chunks of an OpenAI-format SSE stream (``[DONE]`` and comments dropped)."""
    try:
        async for ev in sse_events(chunks):
            data = event_json(ev.data, provider)
            if data is None:
                continue
            if not isinstance(data, dict):
                raise ProviderError(f"{provider}: malformed stream event", code="stream_error")
            raise_error_chunk(data, provider)
            yield data
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
