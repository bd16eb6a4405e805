"""What every route does the same way: check the content type, decode, build the Call, answer."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from sanic import HTTPResponse, Request

from ..errors import GatewayError
from ..providers.base import Call, Provider, Reply
from ..request_id import request_id
from ..response import Response
from ..routing import Group
from ..runtime import current
from ..schemas.decode import decode

T = TypeVar("T")

JSON = "application/json"


def require_json(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    if content_type != JSON and content_type.partition(";")[0].strip().lower() != JSON:
        raise GatewayError(
            "Content-Type must be application/json",
            status=415,
            type="invalid_request_error",
            code="unsupported_media_type",
        )


def routed_call(request: Request, decoder: msgspec.json.Decoder[T]) -> tuple[Provider | Group, Call]:
    """The target (a provider, or a group that retries and falls back) and the Call for it."""
    require_json(request)
    raw = request.body
    body = decode(raw, decoder)
    ctx = request.ctx  # a property (a Python call): read once
    resolver = current(request, ctx).resolver
    model = body.model  # type: ignore[attr-defined]
    groups = resolver.groups
    if groups:  # no groups configured: this test is all the single-provider path pays
        group = groups.get(model)
        if group is not None:
            ctx.provider = model  # the group's name, for the access log and failure warnings
            ctx.model = model  # observe: a routed name, never an unresolved one (label cardinality)
            return group, Call(raw, body, model, model, request_id(request))  # type: ignore[arg-type]
    provider, upstream, full = resolver.resolve(model)
    ctx.provider = provider.name  # for the access log and upstream-failure warnings
    ctx.model = full  # observe: "provider/model", the pricing key
    return provider, Call(raw, body, full, upstream, request_id(request))  # type: ignore[arg-type]


def reply(result: Reply) -> HTTPResponse:
    return Response(result.body, status=result.status, headers=result.headers, content_type=JSON)
