"""GET /v1/models and GET /v1/models/<id>: the registered providers' models as "provider/model" ids."""

from __future__ import annotations

from urllib.parse import unquote

from sanic import Blueprint, HTTPResponse, Request

from ..context import app_context
from ..errors import NotFound, printable
from ..schemas.openai import encode

bp = Blueprint("models")


@bp.get("/v1/models")
async def list_models(request: Request) -> HTTPResponse:
    return HTTPResponse(encode(app_context(request).models.snapshot()), content_type="application/json")


@bp.get("/v1/models/<model_id:path>")
async def get_model(request: Request, model_id: str) -> HTTPResponse:
    model_id = unquote(model_id)  # SDKs send "provider%2Fmodel"
    model = app_context(request).models.find(model_id)
    if model is None:
        raise NotFound(f"The model '{printable(model_id)}' does not exist", param="model", code="model_not_found")
    return HTTPResponse(encode(model), content_type="application/json")
