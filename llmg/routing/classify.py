"""Which kind of failure an attempt ended with: decides retry, fallback, or answer the client.

Only the error path runs this; a successful request never does.
"""

from __future__ import annotations

import re

from ..errors import GatewayError, UpstreamTimeout, UpstreamUnavailable

# Failure classes that say something about the deployment's health (breaker) and may be retried.
CONNECT, TIMEOUT, RATE_LIMIT, SERVER = "connect", "timeout", "429", "5xx"
HEALTH = frozenset((CONNECT, TIMEOUT, RATE_LIMIT, SERVER))
# 400s that another model may not have: these go to the fallbacks.
CONTEXT_WINDOW, CONTENT_POLICY = "context_window", "content_policy"

_CONTEXT_CODES = frozenset(("context_length_exceeded", "string_above_max_length", "context_window_exceeded"))
_POLICY_CODES = frozenset(("content_policy_violation", "content_filter", "content_policy", "responsible_ai_policy_violation"))
# Providers that give no code say it in words (Anthropic "prompt is too long", Gemini "exceeds the
# maximum number of tokens", Azure "content management policy").
_CONTEXT_WORDS = re.compile(
    r"context[ _-]?(length|window)|maximum context|prompt is too long|too many (input )?tokens|"
    r"exceeds the maximum number of tokens|input is too long",
    re.I,
)
_POLICY_WORDS = re.compile(r"content[ _-]?(management )?polic|content[ _-]?filter|safety system", re.I)


def classify(exc: GatewayError) -> str | None:
    """The failure class of ``exc``, or None for an answer that must go back to the client as is."""
    if isinstance(exc, UpstreamUnavailable):
        return CONNECT
    if isinstance(exc, UpstreamTimeout):
        return TIMEOUT
    status = exc.status
    if status == 429:
        return RATE_LIMIT
    if status >= 500 and exc.type in ("provider_error", "timeout_error", "internal_error"):
        return SERVER
    if status == 400 or status == 413 or status == 422:
        code = exc.upstream_code or exc.code  # the body's own code, else the OpenAI code it maps to
        if code in _CONTEXT_CODES or _CONTEXT_WORDS.search(exc.message):
            return CONTEXT_WINDOW
        if code in _POLICY_CODES or _POLICY_WORDS.search(exc.message):
            return CONTENT_POLICY
    return None


def retry_after(exc: GatewayError) -> float | None:
    """Seconds from the upstream's Retry-After (passed on by errors.from_upstream), if any."""
    value = exc.headers.get("retry-after") if exc.headers else None
    if value and value.isdigit():
        return float(value)
    return None
