"""Budgets per named key: USD spent per UTC day or month, on the [limits] backend.

Memory keeps one worker's spend (exact for --workers 1); Redis (``INCRBYFLOAT`` on one key per
key name and period, expiring after the period) is shared by every worker and instance. A request
is refused with 429 ``insufficient_quota`` once the spend has reached the budget; the answer that
crosses it is still served (its cost is known only at its end). Unpriced answers cost nothing here:
the metric ``llmg_unpriced_requests_total`` shows them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ..config import Config
from ..errors import BudgetExceeded

log = logging.getLogger("llmg.budget")

_TTL_S = {"day": 2 * 86400, "month": 32 * 86400}


def period_id(period: str, now: float | None = None) -> str:
    stamp = time.gmtime(time.time() if now is None else now)
    return time.strftime("%Y-%m-%d" if period == "day" else "%Y-%m", stamp)


class MemorySpend:
    name = "memory"

    def __init__(self) -> None:
        self.spent: dict[tuple[str, str], float] = {}

    async def get(self, key: str, period: str) -> float:
        return self.spent.get((key, period), 0.0)

    def add(self, key: str, period: str, usd: float, ttl_s: int) -> None:
        self.spent[(key, period)] = self.spent.get((key, period), 0.0) + usd

    async def aclose(self) -> None:
        pass


class RedisSpend:
    name = "redis"

    def __init__(self, url: str, prefix: str, timeout: float) -> None:
        from redis import asyncio as aioredis

        self.client = aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.prefix = prefix
        self._pending: set[asyncio.Task[Any]] = set()

    def _key(self, key: str, period: str) -> str:
        return f"{self.prefix}:spend:{key}:{period}"

    async def get(self, key: str, period: str) -> float:
        value = await self.client.get(self._key(key, period))
        return float(value) if value is not None else 0.0

    def add(self, key: str, period: str, usd: float, ttl_s: int) -> None:
        task = asyncio.get_running_loop().create_task(self._add(self._key(key, period), usd, ttl_s))
        self._pending.add(task)  # kept until done: a task only the loop references may be collected
        task.add_done_callback(self._pending.discard)

    async def _add(self, name: str, usd: float, ttl_s: int) -> None:
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.incrbyfloat(name, usd)
                pipe.expire(name, ttl_s)
                await pipe.execute()
        except Exception as exc:  # the answer is already out; the spend is lost, say so
            log.warning("budget spend not recorded (%s): %.6f USD", type(exc).__name__, usd)

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self.client.aclose()


class Budgets:
    def __init__(self, config: Config) -> None:
        self.limits = {name: (k.budget_usd, k.budget_period) for name, k in config.keys.items() if k.budget_usd}
        self.store: Any = MemorySpend()
        self.config = config

    def open(self) -> None:
        """Per worker, in its loop (a Redis client belongs to one event loop)."""
        limits = self.config.limits
        if limits.backend == "redis":
            self.store = RedisSpend(limits.redis_url, limits.redis_prefix, limits.redis_timeout)

    async def check(self, name: str) -> None:
        found = self.limits.get(name)
        if found is None:
            return
        budget, period = found
        try:
            spent = await self.store.get(name, period_id(period))
        except Exception as exc:  # backend down: [limits] on_backend_error decides
            if self.config.limits.on_backend_error == "closed":
                from ..errors import LimitsUnavailable

                raise LimitsUnavailable() from None
            log.warning("budget of key '%s' not checked: %s", name, type(exc).__name__)
            return
        if spent >= budget:
            raise BudgetExceeded(name, budget, period)

    def charge(self, name: str, usd: float) -> None:
        found = self.limits.get(name)
        if found is not None and usd > 0:
            self.store.add(name, period_id(found[1]), usd, _TTL_S[found[1]])

    async def spent(self, name: str) -> tuple[float, str, float] | None:
        """(budget, period, spent) for GET /v1/key; None when the key has no budget."""
        found = self.limits.get(name)
        if found is None:
            return None
        try:
            return found[0], found[1], await self.store.get(name, period_id(found[1]))
        except Exception:
            return found[0], found[1], -1.0
