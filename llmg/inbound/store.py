"""Stored responses for ``previous_response_id`` and ``GET``/``DELETE /v1/responses/{id}``.

Two backends behind one async interface, chosen by ``[limits] backend``:

- memory (``MemoryStore``): each worker's own, the newest ``store_max_items`` kept. With several
  workers a follow-up may reach a worker that never saw the first turn (404).
- redis (``store_redis.RedisStore``): one key per response, shared by every worker and instance
  pointed at the same Redis, so a conversation may hop between them.

Both keep an entry for ``[responses] store_ttl_s`` and refuse entries over
``store_max_entry_bytes`` (encoded), so the store stays bounded. Entries are kept encoded
(msgpack) in both: the memory store then holds a copy the request cannot change afterwards, and
its size is known.

The store is opened with the worker (``install``: a Redis client is bound to the worker's event
loop) and reached through the request (``of``).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

import msgspec
from sanic import Request

from ..config import Config, ResponsesConfig
from ..context import App

log = logging.getLogger("llmg.responses")

# Ids we make are "resp_" + 32 hex; anything much longer was never stored, so no lookup is needed.
MAX_ID_CHARS = 200


class Stored(msgspec.Struct, array_like=True):
    response: bytes  # the ResponseObject as JSON, as answered
    input_items: list[dict[str, Any]]  # this request's input items (ids added), for /input_items
    messages: list[dict[str, Any]]  # the whole conversation in chat shape, this answer included (no instructions)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Stored)


def pack(response_id: str, item: Stored, max_bytes: int) -> bytes | None:
    """The entry encoded, or None (with a warning) when it is over the size cap."""
    blob = _encoder.encode(item)
    if len(blob) > max_bytes:
        log.warning("response %s not stored: %d bytes encoded, over responses.store_max_entry_bytes (%d)",
                    response_id, len(blob), max_bytes)
        return None
    return blob


def unpack(blob: bytes) -> Stored:
    return _decoder.decode(blob)


class ResponseStore(Protocol):
    async def put(self, response_id: str, response: bytes, input_items: list[dict[str, Any]],
                  messages: list[dict[str, Any]]) -> None:
        """Store an answer; never raises: a store that is down skips it with a warning."""

    async def get(self, response_id: str) -> Stored | None:
        """The stored entry, None if unknown or expired; ``StoreUnavailable`` if the store is down."""

    async def delete(self, response_id: str) -> bool:
        """True if it was there; ``StoreUnavailable`` if the store is down."""

    async def aclose(self) -> None: ...


class MemoryStore:
    """One worker's store: least recently stored evicted first beyond ``max_items``."""

    def __init__(self, max_items: int = 1000, ttl: float = 3600.0, max_entry_bytes: int = 4 * 1024 * 1024) -> None:
        self.max_items = max_items
        self.ttl = ttl
        self.max_entry_bytes = max_entry_bytes
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()  # id -> (expires, packed)

    async def put(self, response_id: str, response: bytes, input_items: list[dict[str, Any]],
                  messages: list[dict[str, Any]]) -> None:
        blob = pack(response_id, Stored(response, input_items, messages), self.max_entry_bytes)
        if blob is None:
            return
        self._items[response_id] = (time.monotonic() + self.ttl, blob)
        self._items.move_to_end(response_id)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    async def get(self, response_id: str) -> Stored | None:
        entry = self._items.get(response_id)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._items[response_id]
            return None
        return unpack(entry[1])

    async def delete(self, response_id: str) -> bool:
        return self._items.pop(response_id, None) is not None

    async def aclose(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def open_store(config: Config) -> ResponseStore:
    settings: ResponsesConfig = config.responses
    if config.limits.backend == "redis":
        from .store_redis import RedisStore  # redis-py is only imported when it is used

        limits = config.limits
        return RedisStore(limits.redis_url, limits.redis_prefix, limits.redis_timeout,
                          ttl=settings.store_ttl_s, max_entry_bytes=settings.store_max_entry_bytes)
    return MemoryStore(settings.store_max_items, settings.store_ttl_s, settings.store_max_entry_bytes)


def install(app: App, config: Config) -> None:
    """Open the store with each worker and close it with it (restart to change [responses])."""

    @app.before_server_start
    async def open_response_store(app: App) -> None:
        app.ctx.response_store = open_store(config)

    @app.after_server_stop
    async def close_response_store(app: App) -> None:
        await app.ctx.response_store.aclose()


def of(request: Request) -> ResponseStore:
    """The worker's store (made by ``install``)."""
    store: ResponseStore = request.app.ctx.response_store
    return store
