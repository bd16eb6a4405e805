"""GET /health: liveness, with no auth (the only public route)."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from .. import __version__
from ..context import app_context
from ..schemas.openai import Health, encode

bp = Blueprint("health")


@bp.get("/health", ctx_public=True)
async def health(request: Request) -> HTTPResponse:
    body = encode(Health(version=__version__, providers=len(app_context(request).resolver.providers)))
    return HTTPResponse(body, content_type="application/json")
