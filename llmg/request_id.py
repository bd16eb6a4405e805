"""The ``x-request-id`` every response carries: the client's own if it is sane, else a new one."""

from __future__ import annotations

import os

from sanic import Request

_MAX_LENGTH = 128
# Characters accepted in a client-supplied id: enough for UUIDs, ULIDs and trace ids, nothing
# that could split a header or a log line.
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:")


def request_id(request: Request) -> str:
    rid = getattr(request.ctx, "request_id", None)
    if rid is None:
        given = request.headers.get("x-request-id")
        if given and len(given) <= _MAX_LENGTH and _SAFE.issuperset(given):
            rid = given
        else:
            rid = os.urandom(16).hex()
        request.ctx.request_id = rid
    return rid
