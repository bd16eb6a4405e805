"""GET /openapi.json: the gateway's OpenAPI contract, for schemathesis and client generators."""

from __future__ import annotations

from functools import cache

from sanic import Blueprint, HTTPResponse, Request

from ..contract import to_json

bp = Blueprint("openapi")


@cache
def _document() -> bytes:
    # Built from the Structs once per worker, on first use; the same document `llmg contract` writes.
    return to_json()


@bp.get("/openapi.json")
async def openapi(request: Request) -> HTTPResponse:
    return HTTPResponse(_document(), content_type="application/json")
