"""The json access line: one msgspec Struct per request, encoded in one go.

A Struct encodes faster than the dict of the same fields (no per-line key hashing, keys written
from the class), and the field list is the documentation of the line (README "Observability").
"""

from __future__ import annotations

import msgspec


class AccessLine(msgspec.Struct):
    time: float
    request_id: str
    method: str
    path: str
    route: str
    key: str | None
    provider: str | None
    model: str | None
    deployment: str | None
    status: int
    latency_ms: float
    upstream_ms: float | None
    ttft_ms: float | None
    usage_source: str  # "provider" | "none": a provider that reports no usage is not guessed at
    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int | None
    reasoning_tokens: int | None
    cost_usd: float | None  # None: no price for the model (unknown, not 0)
    error_type: str | None


class AccessLineWithBodies(AccessLine):
    """With ``[logging] log_bodies = true`` only: the request and response bodies as text."""

    request_body: str | None = None
    response_body: str | None = None
