"""Secret hygiene: what may be shown of a value that can hold a credential.

Used wherever configuration is printed or represented: ``check-config`` output, the ``repr`` of
``Settings`` and of the config Structs (a repr ends up in tracebacks, debuggers and log lines).
Error messages from upstreams are redacted separately (``errors.redact`` with each provider's
``secrets``: its key, custom header values and the tokens it exchanged).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HIDDEN = "***"


def redact_url(url: str | None) -> str | None:
    """A URL without its userinfo and query (either may carry a key): ``https://***@host/p?***``."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return HIDDEN  # not parseable: show nothing rather than guess
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{HIDDEN}@{netloc.rpartition('@')[2]}"
    query = HIDDEN if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, HIDDEN if parts.fragment else ""))


def shown(value: object) -> str:
    """``***`` for a set value, ``None`` for an unset one: presence is useful, content is not."""
    return "None" if value is None else HIDDEN


def names_only(mapping: Mapping[str, Any]) -> str:
    """``{name: ***, ...}``: which headers or params are set, never their values."""
    return "{" + ", ".join(f"{key!r}: {HIDDEN}" for key in mapping) + "}"
