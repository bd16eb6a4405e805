"""The response store on the limits backend's Redis: shared by every worker and instance.

One key per response, ``{prefix}:resp:{id}``, holding the msgpack-encoded entry, written with
``SET ... PX ttl`` so Redis itself expires it: the bound is the TTL plus the size cap per entry.
Each call is one round trip bounded by ``redis_timeout``. Redis down: reads and deletes raise
``StoreUnavailable`` (503); a new answer is not stored, with a warning, and still goes out.
"""

from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..errors import StoreUnavailable
from .store import MAX_ID_CHARS, Stored, pack, unpack

log = logging.getLogger("llmg.responses")


class RedisStore:
    def __init__(self, url: str, prefix: str, timeout: float, ttl: float, max_entry_bytes: int) -> None:
        # As the limits backend: no retries inside redis-py, so an outage answers within the
        # timeout instead of after several reconnects; the pool reconnects on the next call.
        self.client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            health_check_interval=0,
        )
        self.prefix = f"{prefix}:resp:"
        self.ttl_ms = max(1, int(ttl * 1000))
        self.max_entry_bytes = max_entry_bytes

    async def put(self, response_id: str, response: bytes, input_items: list[dict[str, Any]],
                  messages: list[dict[str, Any]]) -> None:
        blob = pack(response_id, Stored(response, input_items, messages), self.max_entry_bytes)
        if blob is None:
            return
        try:
            await self.client.set(self.prefix + response_id, blob, px=self.ttl_ms)
        except (RedisError, OSError) as exc:
            # The answer matters more than its copy: it goes out; only chaining from it will 404.
            log.warning("response %s not stored: the response store (Redis) is unavailable (%s)",
                        response_id, type(exc).__name__)

    async def get(self, response_id: str) -> Stored | None:
        if len(response_id) > MAX_ID_CHARS:
            return None
        try:
            blob = await self.client.get(self.prefix + response_id)
        except (RedisError, OSError) as exc:
            log.warning("response store (Redis) unavailable on read: %s", type(exc).__name__)
            raise StoreUnavailable() from None
        return None if blob is None else unpack(blob if isinstance(blob, bytes) else blob.encode())

    async def delete(self, response_id: str) -> bool:
        if len(response_id) > MAX_ID_CHARS:
            return False
        try:
            removed = await self.client.delete(self.prefix + response_id)
        except (RedisError, OSError) as exc:
            log.warning("response store (Redis) unavailable on delete: %s", type(exc).__name__)
            raise StoreUnavailable() from None
        return bool(removed)

    async def aclose(self) -> None:
        await self.client.aclose()
