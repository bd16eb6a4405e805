"""POST /v1/embeddings."""

from __future__ import annotations

import msgspec
from sanic import Blueprint, HTTPResponse, Request

from ..schemas.openai import EmbeddingsRequest
from .common import reply, routed_call

bp = Blueprint("embeddings")
_decoder = msgspec.json.Decoder(EmbeddingsRequest)


@bp.post("/v1/embeddings")
async def embeddings(request: Request) -> HTTPResponse:
    provider, call = routed_call(request, _decoder)
    return reply(await provider.embeddings(call))
