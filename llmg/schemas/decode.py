"""Request bodies -> validated Structs, with errors that name the offending field."""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec

from ..errors import InvalidRequest

T = TypeVar("T")

_AT = re.compile(r"^(.*?)(?: - at `\$(.*)`)?$", re.S)
_MISSING = re.compile(r"missing required field `([^`]+)`")


def decode(raw: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    if not raw:
        raise InvalidRequest("Request body is empty; send a JSON object", code="invalid_json")
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        if "got `float`" in str(exc):
            try:
                return _with_integral_floats(raw, decoder)
            except msgspec.ValidationError as again:
                exc = again
        match = _AT.match(str(exc))
        assert match is not None
        reason, where = match.group(1), (match.group(2) or "").lstrip(".")
        missing = _MISSING.search(reason)
        if missing:
            where = f"{where}.{missing.group(1)}" if where else missing.group(1)
        raise InvalidRequest(
            f"Invalid request: {reason}" + (f" (at '{where}')" if where else ""),
            param=where or None,
            code="invalid_type" if not missing else "missing_required_parameter",
        ) from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"Request body is not valid JSON: {exc}", code="invalid_json") from None
    except UnicodeDecodeError:  # msgspec raises it (not DecodeError) for invalid UTF-8 inside a string
        raise InvalidRequest("Request body is not valid UTF-8", code="invalid_json") from None


def _integral(value: object) -> object:
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, list):
        return [_integral(item) for item in value]
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    return value


def _with_integral_floats(raw: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """Retry a body whose integer field held ``4096.0``: JSON (and JSON Schema) call that an integer.

    Only reached after a failed typed decode, so valid requests never pay for it; the body forwarded
    upstream stays the client's bytes. Type checks stay strict otherwise (no strings for numbers).
    """
    return msgspec.convert(_integral(msgspec.json.decode(raw)), decoder.type)
