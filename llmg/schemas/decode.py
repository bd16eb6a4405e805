"""Request bodies -> validated Structs, with errors that name the offending field."""

from __future__ import annotations

import re
from typing import NoReturn, TypeVar

import msgspec

from ..errors import InvalidRequest

T = TypeVar("T")

_AT = re.compile(r"^(.*?)(?: - at `\$(.*)`)?$", re.S)
_MISSING = re.compile(r"missing required field `([^`]+)`")

# Deepest JSON nesting a request may have. Real requests (tool schemas, content parts) stay far
# below it; deeper bodies would make msgspec (and any translator that walks a schema) recurse
# until RecursionError, a 500. Checked before decoding, in C-speed byte operations only.
MAX_DEPTH = 64
_OPENERS = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_TOO_DEEP = b"[" * (MAX_DEPTH + 1)


def check_depth(raw: bytes, limit: int = MAX_DEPTH) -> None:
    """Raise a 400 if ``raw`` nests arrays/objects deeper than ``limit``.

    Fast path: a body with at most ``limit`` opening brackets cannot nest deeper (two C-level
    counts, the common case). Otherwise only quotes and brackets are kept (escaped quotes dropped
    first), brackets inside strings are cut out, and the innermost pairs are peeled off one level
    per pass. Bodies that are not well nested are left to the decoder to reject.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return
    if b'\\"' in raw:  # only an escaped quote hides a quote's role: drop escaped backslashes, then escaped quotes
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Removing adjacent quote pairs keeps every other quote's parity, so only strings that hold
    # brackets survive; those (rare) are cut out by splitting on the quotes.
    shape = raw.translate(_OPENERS, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in shape:
        shape = b"".join(shape.split(b'"')[::2])
    if limit == MAX_DEPTH and _TOO_DEEP in shape:
        _too_deep(limit)
    for _ in range(limit):
        peeled = shape.replace(b"[]", b"")  # one scan, no rescan: removes exactly one level
        if len(peeled) == len(shape):
            return  # empty, or not well nested (the decoder says so)
        shape = peeled
    if b"[]" in shape:
        _too_deep(limit)


def _too_deep(limit: int) -> NoReturn:
    raise InvalidRequest(f"Request body nests JSON deeper than {limit} levels", code="json_too_deep")


def decode(raw: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    if not raw:
        raise InvalidRequest("Request body is empty; send a JSON object", code="invalid_json")
    check_depth(raw)
    try:
        return decoder.decode(raw)
    except RecursionError:  # a backstop: check_depth keeps bodies far below the interpreter's limit
        _too_deep(MAX_DEPTH)
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
    converted: T = msgspec.convert(_integral(msgspec.json.decode(raw)), decoder.type)
    return converted
