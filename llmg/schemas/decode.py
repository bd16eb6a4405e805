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
