"""What every route does the same way: check the content type, decode, build the Call, answer."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from sanic import HTTPResponse, Request

from ..errors import GatewayError
from ..providers.base import Call, Provider, Reply
from ..request_id import request_id
from ..runtime import current
from ..schemas.decode import decode

T = TypeVar("T")

JSON = "application/json"


def require_json(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    if content_type.partition(";")[0].strip().lower() != JSON:
        raise GatewayError(
            "Content-Type must be application/json",
            status=415,
            type="invalid_request_error",
            code="unsupported_media_type",
        )


def routed_call(request: Request, decoder: msgspec.json.Decoder[T]) -> tuple[Provider, Call]:
    require_json(request)
    raw = request.body
    body = decode(raw, decoder)
    provider, model, full = current(request).router.resolve(body.model)
    return provider, Call(raw, body, full, model, request_id(request))  # type: ignore[arg-type]


def reply(result: Reply) -> HTTPResponse:
    return HTTPResponse(result.body, status=result.status, headers=result.headers, content_type=JSON)
