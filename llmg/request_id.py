"""The ``x-request-id`` every response carries: the client's own if it is sane, else a new one."""

from __future__ import annotations

import itertools
import os

from sanic import Request

_MAX_LENGTH = 128
# Characters accepted in a client-supplied id: enough for UUIDs, ULIDs and trace ids, nothing
# that could split a header or a log line.
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:")
# New ids are 32 hex digits: 16 random per process, then a 16-digit counter. Unique across workers
# and restarts without a getrandom syscall per request (measured on the hot path); ids are labels
# for correlating logs, not secrets.
_PREFIX = os.urandom(8).hex()
_counter = itertools.count(1)


def _reseed() -> None:  # a forked worker must not repeat its parent's ids
    global _PREFIX, _counter
    _PREFIX = os.urandom(8).hex()
    _counter = itertools.count(1)


os.register_at_fork(after_in_child=_reseed)


def request_id(request: Request) -> str:
    ctx = request.ctx  # a property (a Python call): read once
    rid = getattr(ctx, "request_id", None)
    if rid is None:
        given = request.headers.get("x-request-id")
        if given and len(given) <= _MAX_LENGTH and _SAFE.issuperset(given):
            rid = given
        else:
            rid = f"{_PREFIX}{next(_counter):016x}"
        ctx.request_id = rid
    return rid
