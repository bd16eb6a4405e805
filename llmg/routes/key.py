"""GET /v1/key: who am I to the gateway, what may I do, how much have I used."""

from __future__ import annotations

import math

from sanic import Blueprint, HTTPResponse, Request

from ..keys import PLAIN, KeyPolicy
from ..schemas.keys import KeyBudget, KeyInfo, KeyLimits, KeyUsage
from ..schemas.openai import encode

bp = Blueprint("key")


@bp.get("/v1/key")
async def key_info(request: Request) -> HTTPResponse:
    policy: KeyPolicy = getattr(request.ctx, "key", PLAIN)
    limits = KeyLimits(
        rpm=policy.rpm, tpm=policy.tpm, max_parallel=policy.max_parallel, models=list(policy.models),
        expires_at=math.floor(policy.expires_at) if policy.expires_at is not None else None,
    )
    info = KeyInfo(name=policy.name or None, limits=limits)
    gate = getattr(request.app.ctx, "limits", None)
    if gate is not None and policy is not PLAIN:
        info.backend = gate.backend.name
        info.backend_errors = gate.backend_errors
        decision = await gate.usage(policy)
        if decision is not None:
            info.usage = KeyUsage(
                requests=decision.used_requests, tokens=decision.used_tokens, in_flight=decision.in_flight,
                reset_requests_ms=decision.reset_requests_ms, reset_tokens_ms=decision.reset_tokens_ms,
            )
    # --- observe: the key's spend against its budget ---
    observer = getattr(request.app.ctx, "observer", None)
    if observer is not None and observer.budgets is not None and policy.name:
        observer.drain()  # this worker's finished requests charged first (llmg/observe/batch.py)
        spent = await observer.budgets.spent(policy.name)
        if spent is not None:
            info.budget = KeyBudget(budget_usd=spent[0], period=spent[1], spent_usd=spent[2])
    # --- end observe ---
    return HTTPResponse(encode(info), content_type="application/json")
