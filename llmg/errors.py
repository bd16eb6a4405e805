"""Every error the gateway can return, and the one place that turns it into the OpenAI envelope.

The envelope is always ``{"error": {"message", "type", "param", "code"}}``. Upstream statuses are
mapped here (``from_upstream``) so that every provider adapter reports failures the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec


class ErrorBody(msgspec.Struct, omit_defaults=False):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(msgspec.Struct):
    error: ErrorBody


_encode = msgspec.json.Encoder().encode


class GatewayError(Exception):
    """An error with a client-facing status, type and message. Messages never carry secrets."""

    status: int = 500
    type: str = "internal_error"
    # The provider's own error code (e.g. "context_length_exceeded") whatever its body's format,
    # for routing decisions only (llmg/routing/classify.py).
    upstream_code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers) if headers else {}

    def body(self) -> bytes:
        return _encode(ErrorResponse(ErrorBody(self.message, self.type, self.param, self.code)))

    def event(self) -> bytes:
        """The same error as one SSE event, for failures after a stream has started."""
        return b"data: " + self.body() + b"\n\n"


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class AuthenticationError(GatewayError):
    status = 401
    type = "authentication_error"

    def __init__(self) -> None:
        super().__init__("Invalid authentication", headers={"www-authenticate": "Bearer"})


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"


class UnknownProvider(NotFound):
    """404 ``Unknown provider: NAME`` (the authentication page's message), followed by the reason
    when the gateway knows why NAME is not registered (a catalogue provider without its key)."""

    def __init__(self, name: str, reason: str | None = None) -> None:
        message = f"Unknown provider: {printable(name)}"
        if reason:
            message += f" (not registered: {reason})"
        super().__init__(message, param="model", code="unknown_provider")
        self.provider = name
        self.reason = reason

    def explained(self, skipped: Mapping[str, str]) -> UnknownProvider:
        """The same error with the start-up plan's reason for skipping the provider, if it has one."""
        reason = skipped.get(self.provider)
        return self if self.reason or not reason else UnknownProvider(self.provider, reason)


class NotSupported(GatewayError):
    status = 501
    type = "not_supported"


class ProviderError(GatewayError):
    status = 502
    type = "provider_error"


class UpstreamTimeout(GatewayError):
    status = 504
    type = "timeout_error"


class UpstreamUnavailable(ProviderError):
    """Connection refused, reset, DNS failure: the provider could not be reached at all."""


class Overloaded(GatewayError):
    """Past an in-flight cap, or no pooled connection free in time: refused at once, with
    Retry-After, instead of queued until some timeout turns it into a 500."""

    status = 503
    type = "overloaded"


class ShuttingDown(GatewayError):
    """The worker is draining (SIGTERM): the request could not finish within server.drain_timeout."""

    status = 503
    type = "service_unavailable"


def printable(text: str, limit: int = 200) -> str:
    """Echo user input safely: bounded, and with control characters escaped."""
    text = text[:limit]
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


# --- upstream status mapping -------------------------------------------------------------------

_MAX_UPSTREAM_MESSAGE = 1000


def upstream_message(body: bytes) -> str | None:
    """Pull a human message out of a provider's error body, whatever its shape."""
    try:
        data: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        text = body[:_MAX_UPSTREAM_MESSAGE].decode("utf-8", "replace").strip()
        return text or None
    # OpenAI {"error": {"message"}}, Anthropic {"type":"error","error":{"message"}},
    # Google {"error": {"message", "status"}}, plain {"message"} / {"detail"} / {"error": "text"}.
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, str):
            return err[:_MAX_UPSTREAM_MESSAGE]
        if isinstance(err, dict):
            for key in ("message", "detail", "error_description", "msg"):
                value = err.get(key)
                if isinstance(value, str) and value:
                    return value[:_MAX_UPSTREAM_MESSAGE]
        for key in ("message", "detail"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value[:_MAX_UPSTREAM_MESSAGE]
    return None



def _upstream_code(body: bytes) -> str | None:
    """``error.code`` (or ``error.type``/``error.status``) of an error body, if it has one."""
    try:
        data: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        for key in ("code", "type", "status"):
            value = err.get(key)
            if isinstance(value, str) and value:
                return value[:100]
    return None


def redact(message: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            message = message.replace(secret, "[redacted]")
    return message


PROVIDER_HEADER = "x-llmg-provider"
"""Names the provider that failed on every upstream error: the message stays the upstream's own."""

# OpenAI's codes for failures that every provider has under its own name. Clients branch on them
# (langchain raises its context-overflow error on context_length_exceeded, pydantic-ai tells
# insufficient_quota from a rate limit), so translated providers' errors are mapped onto them.
CONTEXT_LENGTH = "context_length_exceeded"
QUOTA = "insufficient_quota"
CONTENT_FILTER = "content_filter"

# Lower-cased phrases of the providers' documented messages, matched by substring (error path only).
_CONTEXT_PHRASES = (
    "prompt is too long",  # Anthropic
    "context length", "context_length", "context window", "maximum context",
    "input is too long",  # Bedrock
    "too many tokens",  # Cohere
    "exceeds the maximum number of tokens",  # Gemini / Vertex
    "input token count",  # Gemini
    "max_sequence_length", "exceeds the maximum sequence length",  # watsonx
)
_QUOTA_PHRASES = ("credit balance is too low", "insufficient_quota")
_FILTER_PHRASES = ("content filter", "content_filter", "content management policy", "guardrail", "safety settings",
                   "blocked by safety", "responsible ai")
_QUOTA_KINDS = {"billing_error", "insufficient_quota"}


class UpstreamEnvelope(msgspec.Struct):
    """OpenAI's error body; an OpenAI-format upstream's ``error`` object, kept field by field."""

    message: str
    type: Any = None
    param: Any = None
    code: Any = None


class _OpenAIErrorBody(msgspec.Struct):
    error: UpstreamEnvelope
    type: Any = None  # Anthropic's body says "error" here; OpenAI's has no such field


_envelope_decoder = msgspec.json.Decoder(_OpenAIErrorBody)


def openai_envelope(body: bytes) -> UpstreamEnvelope | None:
    """The ``error`` object when ``body`` is OpenAI's envelope (a ``type`` string beside the
    message), else None. Anthropic's body (top-level ``"type": "error"``) and Google's (no ``type``,
    numeric ``code``) are other formats, so they never match."""
    if b'"error"' not in body[:64]:
        return None
    try:
        parsed = _envelope_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    err = parsed.error
    if parsed.type is not None or not isinstance(err.type, str) or not isinstance(err.code, (str, type(None))):
        return None
    return err


def classify(status: int, kind: str | None, message: str | None) -> str | None:
    """The OpenAI code meaning the same as a translated provider's error, or None."""
    kind_l = (kind or "").lower()
    text = (message or "").lower()
    if kind_l in _QUOTA_KINDS or status == 402 or any(p in text for p in _QUOTA_PHRASES):
        return QUOTA
    if 400 <= status < 500 and status != 429 and any(p in text for p in _CONTEXT_PHRASES):
        return CONTEXT_LENGTH
    if 400 <= status < 500 and status != 429 and any(p in text for p in _FILTER_PHRASES):
        return CONTENT_FILTER
    return None


def _retry_after(headers: Mapping[str, str] | None) -> str | None:
    value = (headers or {}).get("retry-after") or (headers or {}).get("Retry-After")
    return value.strip() if value and value.strip().isdigit() else None


def from_upstream(
    status: int,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    provider: str,
    secrets: tuple[str, ...] = (),
    message: str | None = None,
    kind: str | None = None,
) -> GatewayError:
    """Map a non-2xx upstream answer to the error the client sees.

    401/403 -> 401 provider_error "Authentication failed" (the authentication page's contract);
    429 -> 429 with Retry-After passed on; other 4xx keep their status; 5xx -> 502.
    An OpenAI-format body keeps its ``message``, ``type``, ``param`` and ``code`` as sent; a
    translated provider's error (``message`` and ``kind`` parsed by its translator) gets the OpenAI
    code that means the same (``classify``). The provider is named in ``x-llmg-provider``.
    """
    extra = {PROVIDER_HEADER: provider}
    if status in (401, 403):
        return GatewayError("Authentication failed", status=401, type="provider_error", code="provider_auth_failed",
                            headers=extra)
    retry_after = _retry_after(headers) if status == 429 else None
    if retry_after:
        extra["retry-after"] = retry_after
    envelope = openai_envelope(body) if message is None else None
    if envelope is not None:
        said = redact(envelope.message[:_MAX_UPSTREAM_MESSAGE], secrets)
        code = envelope.code if isinstance(envelope.code, str) else None
        param = envelope.param if isinstance(envelope.param, str) else None
        if status >= 500:
            return ProviderError(said or f"upstream error (HTTP {status})", code=code or "upstream_error",
                                 headers=extra)
        default = "rate_limit_error" if status == 429 else "invalid_request_error"
        return GatewayError(said or f"upstream rejected the request (HTTP {status})", status=status,
                            type=envelope.type or default, param=param,
                            code=code or ("rate_limit_exceeded" if status == 429 else None), headers=extra)
    found: str | None = message if message is not None else upstream_message(body)
    text = redact(found, secrets) if found else None
    mapped = classify(status, kind, text)
    if mapped == QUOTA:
        # OpenAI's own answer for an exhausted quota or balance: 429 insufficient_quota.
        return GatewayError(text or "quota exceeded", status=429, type=QUOTA, code=QUOTA, headers=extra)
    if status == 429:
        return GatewayError(text or "rate limit exceeded", status=429, type="rate_limit_error",
                            code="rate_limit_exceeded", headers=extra)
    if 400 <= status < 500:
        error = GatewayError(
            text or f"upstream rejected the request (HTTP {status})",
            status=status,
            type="invalid_request_error",
            param="messages" if mapped == CONTEXT_LENGTH else None,
            code=mapped or "upstream_error",
            headers=extra,
        )
        error.upstream_code = _upstream_code(body)
        return error
    return ProviderError(f"upstream error (HTTP {status})" + (f": {text}" if text else ""), code="upstream_error",
                         headers=extra)


# --- statuses raised by Sanic itself (routing, body limits, protocol errors) -------------------

_SANIC_TYPES = {
    400: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    408: "timeout_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    431: "invalid_request_error",
}

_SANIC_MESSAGES = {
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    413: "Request body too large",
    431: "Request header fields too large",
}


def from_status(status: int, detail: str | None = None) -> GatewayError:
    """An error for a status Sanic decided (unknown route, wrong method, body over the limit)."""
    if status >= 500:
        return GatewayError("Internal server error", status=500, type="internal_error")
    message = _SANIC_MESSAGES.get(status) or (detail and printable(detail)) or "Bad request"
    code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large", 431: "header_too_large"}.get(status)
    return GatewayError(message, status=status, type=_SANIC_TYPES.get(status, "invalid_request_error"), code=code)


# --- gateway keys and limits (llmg/keys.py, llmg/limits/) ---------------------------------------


class KeyExpired(GatewayError):
    status = 401
    type = "authentication_error"

    def __init__(self) -> None:
        super().__init__("key expired", code="key_expired", headers={"www-authenticate": "Bearer"})


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"


class LimitsUnavailable(GatewayError):
    """The limits backend is down and ``limits.on_backend_error = "closed"``."""

    status = 503
    type = "service_unavailable"

    def __init__(self) -> None:
        super().__init__(
            "Rate limits cannot be checked right now; try again shortly",
            code="limits_unavailable",
            headers={"retry-after": "1"},
        )


# --- observe: budgets per named key (llmg/observe/budget.py) ---


class BudgetExceeded(GatewayError):
    """OpenAI's answer when an account's quota is used up: 429 insufficient_quota."""

    status = 429
    type = "insufficient_quota"

    def __init__(self, name: str, budget: float, period: str) -> None:
        super().__init__(
            f"Key '{name}' has used its budget of {budget:g} USD for this {period}",
            code="insufficient_quota",
        )


# --- the Responses store (llmg/inbound/store.py) -------------------------------------------------


class StoreUnavailable(GatewayError):
    """The shared response store (Redis) cannot be reached: a stored response cannot be read."""

    status = 503
    type = "service_unavailable"

    def __init__(self) -> None:
        super().__init__(
            "The response store is unavailable right now; try again shortly",
            code="response_store_unavailable",
            headers={"retry-after": "1"},
        )
