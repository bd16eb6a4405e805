"""Stored responses for ``previous_response_id`` and ``GET /v1/responses/{id}``: bounded, in memory.

One store per worker (``app.ctx``), least recently stored evicted first beyond ``MAX_ITEMS``, and
entries expire after ``TTL_SECONDS``. With several workers a follow-up request may reach a worker
that never saw the first one (404): run one worker, or route conversations to the same worker,
until the shared (Redis) backend of the limits work is wired in here.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

MAX_ITEMS = 1000
TTL_SECONDS = 3600.0


@dataclass(slots=True)
class Stored:
    response: bytes  # the ResponseObject as JSON, as answered
    input_items: list[dict[str, Any]]  # this request's input items (ids added), for /input_items
    messages: list[dict[str, Any]]  # the whole conversation in chat shape, this answer included (no instructions)
    expires: float


class ResponseStore:
    def __init__(self, max_items: int = MAX_ITEMS, ttl: float = TTL_SECONDS) -> None:
        self.max_items = max_items
        self.ttl = ttl
        self._items: OrderedDict[str, Stored] = OrderedDict()

    def put(self, response_id: str, response: bytes, input_items: list[dict[str, Any]], messages: list[dict[str, Any]]) -> None:
        self._items[response_id] = Stored(response, input_items, messages, time.monotonic() + self.ttl)
        self._items.move_to_end(response_id)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    def get(self, response_id: str) -> Stored | None:
        item = self._items.get(response_id)
        if item is None:
            return None
        if item.expires < time.monotonic():
            del self._items[response_id]
            return None
        return item

    def delete(self, response_id: str) -> bool:
        return self._items.pop(response_id, None) is not None

    def __len__(self) -> int:
        return len(self._items)


def of(app: Any) -> ResponseStore:
    """The worker's store, made on first use (so the app factory needs no change for it)."""
    store = getattr(app.ctx, "response_store", None)
    if store is None:
        store = app.ctx.response_store = ResponseStore()
    return store
