"""POST /v1/completions: the legacy API, passed through where the provider has it, else via chat."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import msgspec
from sanic import Blueprint, HTTPResponse, Request

from ..inbound import completions as translate
from ..inbound import native
from ..inbound.call import chat_call, chat_chunks, native_call, resolve
from ..providers.base import Provider
from ..schemas.completions import CompletionChoice, CompletionRequest
from ..schemas.decode import decode
from ..schemas.openai import encode
from ..streaming import DONE, event, relay_sse, send_stream
from .common import JSON, require_json

bp = Blueprint("completions")
_decoder = msgspec.json.Decoder(CompletionRequest)


@bp.post("/v1/completions")
async def completions(request: Request) -> HTTPResponse | None:
    require_json(request)
    body = decode(request.body, _decoder)
    routed = resolve(request, body.model)
    provider = routed[0]
    if native.completions_native(provider):
        call = native_call(request, request.body, body, routed)
        url = f"{provider.base_url}/completions"
        if body.stream:
            chunks = await native.stream(provider, url, call, {**provider.headers, "accept": "text/event-stream"})
            await send_stream(request, relay_sse(chunks))
            return None
        return HTTPResponse(await native.post(provider, url, call), content_type=JSON)
    ident = "cmpl-" + secrets.token_hex(12)
    prompts = translate.prompts(body)
    if body.stream:
        first = await provider.chat_stream(chat_call(request, translate.to_chat(body, prompts[0]), routed))
        await send_stream(request, _stream(request, provider, routed, body, prompts, first, ident))
        return None
    choices = []
    usage = None
    for number, prompt in enumerate(prompts):
        result = await provider.chat(chat_call(request, translate.to_chat(body, prompt), routed))
        answer = provider.answer_json(result.body)
        choices += translate.choices_of(answer, body, number, prompt)
        usage = translate.add_usage(usage, answer.get("usage"))
    return HTTPResponse(encode(translate.completion(ident, body.model, choices, usage)), content_type=JSON)


async def _stream(request: Request, provider: Provider, routed: tuple[Provider, str, str], body: CompletionRequest,
                  prompts: list[str], first: AsyncIterator[bytes], ident: str) -> AsyncIterator[bytes]:
    usage = None
    for number, prompt in enumerate(prompts):
        upstream = first if number == 0 else await provider.chat_stream(chat_call(request, translate.to_chat(body, prompt), routed))
        if body.echo:
            echo = translate.completion(ident, body.model, [CompletionChoice(text=prompt, index=number * (body.n or 1), finish_reason=None)], None)
            yield event(echo)
        async for chunk in chat_chunks(upstream, provider.name):
            usage = translate.add_usage(usage, chunk.get("usage"))
            choices = translate.chunk_choices(chunk, body, number)
            if choices:
                yield event(translate.completion(ident, body.model, choices, None))
    if body.stream_options and body.stream_options.include_usage:
        yield event(translate.completion(ident, body.model, [], usage))
    yield DONE
