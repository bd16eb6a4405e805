"""GET /health (liveness) and GET /health/ready (readiness): both public, no auth."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from .. import __version__
from ..errors import GatewayError
from ..runtime import current
from ..schemas.openai import Health, Readiness, encode

bp = Blueprint("health")


@bp.get("/health", ctx_public=True)
async def health(request: Request) -> HTTPResponse:
    body = encode(Health(version=__version__, providers=len(current(request).providers)))
    return HTTPResponse(body, content_type="application/json")


@bp.get("/health/ready", ctx_public=True)
async def ready(request: Request) -> HTTPResponse:
    """200 once the transport is open and the config loaded; 503 before that and while draining."""
    lifecycle = request.app.ctx.lifecycle
    if not lifecycle.ready:
        what = "draining (shutting down)" if lifecycle.draining else "starting"
        raise GatewayError(f"Not ready: {what}", status=503, type="service_unavailable", code="not_ready")
    return HTTPResponse(encode(Readiness(generation=current(request).generation)), content_type="application/json")
