"""POST /v1/messages and /v1/messages/count_tokens: Anthropic's Messages API on any provider.

Errors on these routes are rendered in Anthropic's shape by the app's error handler
(``inbound.anthropic.is_anthropic_route``); the gateway key may come as ``x-api-key`` (auth.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

import msgspec
from sanic import Blueprint, HTTPResponse, Request

from ..errors import InvalidRequest
from ..inbound import anthropic as translate
from ..inbound import native
from ..inbound.call import chat_call, chat_chunks, native_call, resolve
from ..inbound.sse import Last, send_events
from ..providers.anthropic import AnthropicProvider
from ..providers.base import Provider
from ..schemas.anthropic import CountTokensRequest, CountTokensResponse, MessagesRequest
from ..schemas.decode import decode
from ..schemas.openai import encode
from .common import JSON, require_json

bp = Blueprint("messages")
_messages = msgspec.json.Decoder(MessagesRequest)
_count = msgspec.json.Decoder(CountTokensRequest)
_loose = msgspec.json.Decoder()


def _headers(request: Request, provider: AnthropicProvider, stream: bool) -> dict[str, str]:
    """The adapter's headers, plus the client's ``anthropic-beta`` opt-ins (Claude Code sends them)."""
    headers = dict(provider.stream_headers if stream else provider.headers)
    beta = request.headers.get("anthropic-beta")
    if beta:
        headers["anthropic-beta"] = beta
    return headers


# Either body the Messages routes decode (each has the ``model`` it routes by).
_Body = TypeVar("_Body", MessagesRequest, CountTokensRequest)


def _decode_or_native(request: Request, decoder: msgspec.json.Decoder[_Body]) -> tuple[_Body | None, tuple[Provider, str, str]]:
    """(strict body or None, routed). A body outside the translatable subset still goes to
    Anthropic itself, which validates its own API; for every other provider it is a 400."""
    raw = request.body
    try:
        body = decode(raw, decoder)
    except InvalidRequest as invalid:
        routed = native.try_resolve(request, raw)
        if routed is not None and native.anthropic_native(routed[0]):
            return None, routed
        raise invalid from None
    return body, resolve(request, body.model)


@bp.post("/v1/messages")
async def messages(request: Request) -> HTTPResponse | None:
    require_json(request)
    body, routed = _decode_or_native(request, _messages)
    provider = routed[0]
    if native.anthropic_native(provider):
        assert isinstance(provider, AnthropicProvider)
        loose = body if body is not None else native.ModelOnly(model=native.model_of(request.body) or "")
        call = native_call(request, request.body, loose, routed)
        streamed = body.stream if body is not None else bool(_loose.decode(request.body).get("stream"))
        if streamed:
            chunks = await native.stream(provider, provider.messages_url, call, _headers(request, provider, True))
            await send_events(request, chunks, translate.error_event)
            return None
        answer = await native.post(provider, provider.messages_url, call, _headers(request, provider, False))
        return HTTPResponse(answer, content_type=JSON)
    assert body is not None
    call = chat_call(request, translate.to_chat(body, body.model), routed)
    if body.stream:
        upstream = await provider.chat_stream(call)  # errors before the first byte are ordinary responses
        await send_events(request, _translated(upstream, provider.name, body.model), translate.error_event)
        return None
    result = await provider.chat(call)
    return HTTPResponse(encode(translate.from_chat(provider.answer_json(result.body), body.model)), content_type=JSON)


async def _translated(upstream: AsyncIterator[bytes], name: str, model: str) -> AsyncIterator[bytes]:
    translator = translate.StreamTranslator(model)
    async for chunk in chat_chunks(upstream, name):
        out = translator.feed(chunk)
        if out:
            yield b"".join(out)
    yield Last(b"".join(translator.end()))


@bp.post("/v1/messages/count_tokens")
async def count_tokens(request: Request) -> HTTPResponse:
    require_json(request)
    body, routed = _decode_or_native(request, _count)
    provider = routed[0]
    if native.anthropic_native(provider):  # Anthropic counts exactly
        assert isinstance(provider, AnthropicProvider)
        call = native_call(request, request.body, body or native.ModelOnly(model=native.model_of(request.body) or ""), routed)
        answer = await native.post(provider, f"{provider.messages_url}/count_tokens", call, _headers(request, provider, False))
        return HTTPResponse(answer, content_type=JSON)
    estimate = translate.estimate_tokens(_loose.decode(request.body))
    return HTTPResponse(encode(CountTokensResponse(input_tokens=estimate)), content_type=JSON)
