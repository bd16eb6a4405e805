"""POST /v1/responses, GET / DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items.

To OpenAI itself the body passes through (OpenAI stores and chains its own responses); to every
other provider it goes through the chat shape, and answers are kept in the bounded store
(``inbound.store``: the worker's memory, or the shared Redis) unless ``store`` is false, so
``previous_response_id`` and retrieval work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
from sanic import Blueprint, HTTPResponse, Request

from ..errors import GatewayError, InvalidRequest, NotFound, printable
from ..inbound import native
from ..inbound import responses as translate
from ..inbound import store as stored
from ..inbound.call import chat_call, chat_chunks, native_call, resolve
from ..inbound.sse import Last, send_events
from ..providers.base import Provider
from ..schemas.decode import decode
from ..schemas.openai import encode
from ..schemas.responses import DeletedResponse, InputItemList, ResponsesRequest
from .common import JSON, require_json

bp = Blueprint("responses")
_decoder = msgspec.json.Decoder(ResponsesRequest)
_loose = msgspec.json.Decoder()


def _not_found(response_id: str) -> NotFound:
    return NotFound(f"Response with id '{printable(response_id)}' not found.", param="response_id", code="not_found")


def _plain_error(exc: GatewayError) -> bytes:
    """A failure in a passed-through stream, as the Responses API's ``error`` event."""
    payload = {"type": "error", "code": exc.code or exc.type, "message": exc.message, "param": exc.param}
    return b"event: error\ndata: " + msgspec.json.encode(payload) + b"\n\n"


async def _native(request: Request, provider: Provider, routed: tuple[Provider, str, str], body: Any) -> HTTPResponse | None:
    call = native_call(request, request.body, body, routed)
    url = f"{provider.base_url}/responses"
    streamed = body.stream if isinstance(body, ResponsesRequest) else bool(_loose.decode(request.body).get("stream"))
    if streamed:
        headers = {**provider.headers, "accept": "text/event-stream"}
        await send_events(request, await native.stream(provider, url, call, headers), _plain_error)
        return None
    return HTTPResponse(await native.post(provider, url, call), content_type=JSON)


@bp.post("/v1/responses")
async def create(request: Request) -> HTTPResponse | None:
    require_json(request)
    try:
        body = decode(request.body, _decoder)
    except InvalidRequest as invalid:
        routed = native.try_resolve(request, request.body)  # outside the translatable subset: fine for OpenAI
        if routed is not None and native.responses_native(routed[0]):
            return await _native(request, routed[0], routed, native.ModelOnly(model=native.model_of(request.body) or ""))
        raise invalid from None
    routed = resolve(request, body.model)
    provider = routed[0]
    store = stored.of(request)
    history: list[dict[str, Any]] = []
    if body.previous_response_id is not None:
        previous = await store.get(body.previous_response_id)
        if previous is None:
            if native.responses_native(provider):
                return await _native(request, provider, routed, body)
            raise NotFound(f"Previous response with id '{printable(body.previous_response_id)}' not found.",
                           param="previous_response_id", code="previous_response_not_found")
        history = previous.messages
    elif native.responses_native(provider):
        return await _native(request, provider, routed, body)

    response_id = translate.new_id("resp")
    chat_body, conversation = translate.to_chat(body, history)
    call = chat_call(request, chat_body, routed)
    keep = body.store is not False
    if body.stream:
        upstream = await provider.chat_stream(call)
        translator = translate.StreamTranslator(body, response_id)

        async def events() -> AsyncIterator[bytes]:
            yield b"".join(translator.start())
            async for chunk in chat_chunks(upstream, provider.name):
                out = translator.feed(chunk)
                if out:
                    yield b"".join(out)
            last = Last(b"".join(translator.end()))
            if keep:  # stored before the last event goes out: a client may ask for it right away
                await store.put(response_id, encode(translator.response), translate.stored_items(body.input),
                                [*conversation, translator.assistant()])
            yield last

        await send_events(request, events(), translator.error)
        return None
    result = await provider.chat(call)
    response, assistant = translate.from_chat(provider.answer_json(result.body), body, response_id)
    answer = encode(response)
    if keep:
        await store.put(response_id, answer, translate.stored_items(body.input), [*conversation, assistant])
    return HTTPResponse(answer, content_type=JSON)


# One route for both methods: with two, Sanic's 405 for a third method carries no Allow header.
@bp.route("/v1/responses/<response_id>", methods=["GET", "DELETE"])
async def one(request: Request, response_id: str) -> HTTPResponse:
    if request.method == "DELETE":
        return await delete(request, response_id)
    item = await stored.of(request).get(response_id)
    if item is None:
        raise _not_found(response_id)
    return HTTPResponse(item.response, content_type=JSON)


async def delete(request: Request, response_id: str) -> HTTPResponse:
    if not await stored.of(request).delete(response_id):
        raise _not_found(response_id)
    return HTTPResponse(encode(DeletedResponse(id=response_id)), content_type=JSON)


@bp.get("/v1/responses/<response_id>/input_items")
async def input_items(request: Request, response_id: str) -> HTTPResponse:
    order = request.args.get("order", "desc")
    limit_text = request.args.get("limit", "20")
    if order not in ("asc", "desc"):
        raise InvalidRequest("order must be 'asc' or 'desc'", param="order", code="invalid_value")
    if not (limit_text.isascii() and limit_text.isdigit()) or not 1 <= int(limit_text) <= 100:
        raise InvalidRequest("limit must be an integer from 1 to 100", param="limit", code="invalid_value")
    item = await stored.of(request).get(response_id)
    if item is None:
        raise _not_found(response_id)
    items = item.input_items if order == "asc" else list(reversed(item.input_items))
    after = request.args.get("after")
    if after is not None:
        ids = [i.get("id") for i in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    page = items[: int(limit_text)]
    listing = InputItemList(data=page, first_id=page[0]["id"] if page else None, last_id=page[-1]["id"] if page else None,
                            has_more=len(items) > len(page))
    return HTTPResponse(encode(listing), content_type=JSON)
