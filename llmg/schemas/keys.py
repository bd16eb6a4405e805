"""GET /v1/key: the calling key's own name, limits and current usage."""

from __future__ import annotations

from msgspec import Struct


class KeyLimits(Struct, kw_only=True):
    """The key's limits; 0 = none."""

    rpm: int = 0
    tpm: int = 0
    max_parallel: int = 0
    models: list[str] = []
    expires_at: int | None = None  # Unix time


class KeyUsage(Struct, kw_only=True):
    """Usage in the current 60-second sliding window, shared by every worker and instance on Redis."""

    requests: int
    tokens: int
    in_flight: int
    reset_requests_ms: int
    reset_tokens_ms: int


class KeyBudget(Struct, kw_only=True):
    """The key's spend in the current UTC day or month (observe: [keys.NAME] budget_usd)."""

    budget_usd: float
    period: str  # "day" | "month"
    spent_usd: float  # -1 when the backend cannot be read right now


class KeyInfo(Struct, kw_only=True):
    object: str = "gateway.key"
    # The key's [keys.NAME]; null for a plain [server.auth] key, any token, or auth turned off.
    name: str | None
    limits: KeyLimits
    # Null when the key has no limits, or the limits backend cannot be read right now.
    usage: KeyUsage | None = None
    backend: str | None = None  # "memory" | "redis" when limits apply
    backend_errors: int = 0  # failed backend calls in this worker since it started (a metric)
    budget: KeyBudget | None = None  # observe: null when the key has no budget
