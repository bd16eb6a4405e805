"""Limits shared by every worker and instance through one Redis.

Each check is one atomic Lua script, so one round trip: it trims the windows, decides, and on
admission records the request, reserves the tokens and takes the parallel lease together. Time
comes from Redis (``TIME``), so instances with skewed clocks still share one window. The scripts
are loaded once (EVALSHA; redis-py falls back to EVAL after a Redis restart flushed them).

Keys, per gateway key NAME: ``{prefix}:k:NAME:req`` (sorted set of admitted tickets by time),
``:tok`` (sorted set of "ticket:amount" by time) and ``:tok_total`` (their sum), ``:par``
(sorted set of tickets by lease end); ``{prefix}:global:req`` for global_rpm. All expire on their
own once idle.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .backend import REASONS, WINDOW_MS, BackendError, Decision, Limits

_CHECK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local W = tonumber(ARGV[9])
local rpm, tpm, par, grpm = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local id, lease, est, count = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8] == '1'
local reason, retry = 0, 0
local function reset(key)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] then return math.max(0, tonumber(first[2]) + W - now) end
  return 0
end
if grpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - W)
  if count and redis.call('ZCARD', KEYS[5]) >= grpm then reason = 4; retry = reset(KEYS[5]) end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - W)
local rused, rreset = redis.call('ZCARD', KEYS[1]), reset(KEYS[1])
if rpm > 0 and count and reason == 0 and rused >= rpm then reason = 1; retry = rreset end
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - W)
if #gone > 0 then
  local amount = 0
  for i = 1, #gone do amount = amount + tonumber(string.match(gone[i], ':(%-?%d+)$')) end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - W)
  redis.call('DECRBY', KEYS[3], amount)
end
local tused = tonumber(redis.call('GET', KEYS[3]) or '0')
if tused < 0 then tused = 0 end
local treset = reset(KEYS[2])
if tpm > 0 and count and reason == 0 and (tused >= tpm or (tused > 0 and tused + est > tpm)) then
  reason = 2; retry = treset
  if retry == 0 then retry = 1000 end
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local inflight = redis.call('ZCARD', KEYS[4])
if par > 0 and count and reason == 0 and inflight >= par then reason = 3; retry = 1000 end
if count and reason == 0 then
  if grpm > 0 then redis.call('ZADD', KEYS[5], now, id); redis.call('PEXPIRE', KEYS[5], W) end
  if rpm > 0 then
    redis.call('ZADD', KEYS[1], now, id); redis.call('PEXPIRE', KEYS[1], W)
    rused = rused + 1
    if rreset == 0 then rreset = W end
  end
  if tpm > 0 and est > 0 then
    redis.call('ZADD', KEYS[2], now, id .. ':' .. est); redis.call('INCRBY', KEYS[3], est)
    redis.call('PEXPIRE', KEYS[2], W + lease); redis.call('PEXPIRE', KEYS[3], W + lease)
    tused = tused + est
    if treset == 0 then treset = W end
  end
  if par > 0 then
    redis.call('ZADD', KEYS[4], now + lease, id); redis.call('PEXPIRE', KEYS[4], lease)
    inflight = inflight + 1
  end
end
return {reason, retry, rused, rreset, tused, treset, inflight}
"""

_FINISH = """
local id, reserved, actual = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local W = tonumber(ARGV[4])
if ARGV[5] == '1' then redis.call('ZREM', KEYS[3], id) end
if reserved == actual then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = false
if reserved > 0 then
  local member = id .. ':' .. reserved
  score = redis.call('ZSCORE', KEYS[1], member)
  if score then
    redis.call('ZREM', KEYS[1], member)
    redis.call('DECRBY', KEYS[2], reserved)
  end
end
if actual > 0 then
  redis.call('ZADD', KEYS[1], score or now, id .. ':' .. actual)
  redis.call('INCRBY', KEYS[2], actual)
  redis.call('PEXPIRE', KEYS[1], W * 2); redis.call('PEXPIRE', KEYS[2], W * 2)
end
return 1
"""


class RedisBackend:
    name = "redis"

    def __init__(self, url: str, prefix: str, timeout: float) -> None:
        # No retries inside redis-py: a failed call must reach the policy at once, not after
        # three reconnects; the limiter itself retries the backend after a short pause.
        self.client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            health_check_interval=0,
        )
        self.prefix = prefix
        self._check = self.client.register_script(_CHECK)
        self._finish = self.client.register_script(_FINISH)
        self._global = f"{prefix}:global:req"

    def _keys(self, key: str) -> list[str]:
        base = f"{self.prefix}:k:{key}"
        return [f"{base}:req", f"{base}:tok", f"{base}:tok_total", f"{base}:par", self._global]

    async def check(self, key: str, limits: Limits, ticket: str, tokens: int, count: bool, lease_ms: int) -> Decision:
        args: list[Any] = [limits.rpm, limits.tpm, limits.max_parallel, limits.global_rpm, ticket, lease_ms,
                           tokens, 1 if count else 0, WINDOW_MS]
        try:
            reason, retry, rused, rreset, tused, treset, inflight = await self._check(keys=self._keys(key), args=args)
        except (RedisError, OSError) as exc:
            raise BackendError(type(exc).__name__) from None
        return Decision(REASONS[int(reason)], int(retry), int(rused), int(rreset), int(tused), int(treset), int(inflight))

    async def finish(self, key: str, ticket: str, reserved: int, actual: int, parallel: bool) -> None:
        keys = self._keys(key)
        try:
            await self._finish(keys=[keys[1], keys[2], keys[3]],
                               args=[ticket, reserved, actual, WINDOW_MS, 1 if parallel else 0])
        except (RedisError, OSError) as exc:
            raise BackendError(type(exc).__name__) from None

    async def aclose(self) -> None:
        await self.client.aclose()
