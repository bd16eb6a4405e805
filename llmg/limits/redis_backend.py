"""Limits shared by every worker and instance through one Redis.

Each check is one atomic Lua script, so one round trip: it trims the windows, decides, and on
admission records the request, reserves the tokens and takes the parallel lease together. The
settling of earlier requests (real token usage, lease release) rides along in the same script, or
goes alone after a few milliseconds when no check comes, so a request costs one round trip.
The scripts name keys of other gateway keys than KEYS[] lists, so this needs one Redis (or a
replicated primary), not Redis Cluster. Time
comes from Redis (``TIME``), so instances with skewed clocks still share one window. The scripts
are loaded once (EVALSHA; redis-py falls back to EVAL after a Redis restart flushed them).

Keys, per gateway key NAME: ``{prefix}:k:NAME:req`` (sorted set of admitted tickets by time),
``:tok`` (sorted set of "ticket:amount" by time) and ``:tok_total`` (their sum), ``:par``
(sorted set of tickets by lease end); ``{prefix}:global:req`` for global_rpm. All expire on their
own once idle.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .backend import REASONS, WINDOW_MS, BackendError, Decision, Limits

# Settling (tokens corrected to the real usage, the parallel lease released) is queued and sent
# with the worker's next check, in the same script, or after FLUSH_S when no check comes: one
# round trip per request instead of two. ARGV from `base` on: prefix, count, then per settlement
# name, ticket, reserved, actual, parallel (1/0).
_SETTLE = """
local function settle(base)
  local prefix, n = ARGV[base], tonumber(ARGV[base + 1])
  local now = nil
  for i = 0, n - 1 do
    local at = base + 2 + i * 5
    local k = prefix .. ':k:' .. ARGV[at]
    local id, reserved, actual = ARGV[at + 1], tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
    if ARGV[at + 4] == '1' then redis.call('ZREM', k .. ':par', id) end
    if reserved ~= actual then
      if not now then
        local t = redis.call('TIME')
        now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      end
      local score = false
      if reserved > 0 then
        local member = id .. ':' .. reserved
        score = redis.call('ZSCORE', k .. ':tok', member)
        if score then
          redis.call('ZREM', k .. ':tok', member)
          redis.call('DECRBY', k .. ':tok_total', reserved)
        end
      end
      if actual > 0 then
        redis.call('ZADD', k .. ':tok', score or now, id .. ':' .. actual)
        redis.call('INCRBY', k .. ':tok_total', actual)
        if not score then  -- a new entry: make sure the keys live a window past it
          redis.call('PEXPIRE', k .. ':tok', 120000); redis.call('PEXPIRE', k .. ':tok_total', 120000)
        end
      end
    end
  end
end
"""

_CHECK = _SETTLE + """
settle(10)
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
-- A limit of 0 is not looked at when counting (a look, count = 0, reports everything).
local rused, rreset = 0, 0
if rpm > 0 or not count then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - W)
  rused, rreset = redis.call('ZCARD', KEYS[1]), reset(KEYS[1])
  if count and reason == 0 and rused >= rpm then reason = 1; retry = rreset end
end
local tused, treset = 0, 0
if tpm > 0 or not count then
  local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - W)
  if #gone > 0 then
    local amount = 0
    for i = 1, #gone do amount = amount + tonumber(string.match(gone[i], ':(%-?%d+)$')) end
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - W)
    redis.call('DECRBY', KEYS[3], amount)
  end
  tused = tonumber(redis.call('GET', KEYS[3]) or '0')
  if tused < 0 then tused = 0 end
  treset = reset(KEYS[2])
  if count and reason == 0 and (tused >= tpm or (tused > 0 and tused + est > tpm)) then
    reason = 2; retry = treset
    if retry == 0 then retry = 1000 end
  end
end
local inflight = 0
if par > 0 or not count then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  inflight = redis.call('ZCARD', KEYS[4])
  if count and reason == 0 and inflight >= par then reason = 3; retry = 1000 end
end
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

_FLUSH = _SETTLE + """
settle(1)
return 0
"""

# A queued settlement waits at most this long for a check to carry it.
FLUSH_S = 0.005
# Settlements queued while Redis is unreachable are dropped past this many (leases expire anyway).
MAX_QUEUED = 10_000


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
        self._flush = self.client.register_script(_FLUSH)
        self._global = f"{prefix}:global:req"
        self._key_names: dict[str, list[str]] = {}
        self._queued: list[Any] = []  # flattened settlements: name, ticket, reserved, actual, parallel
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[Any]] = set()

    def _keys(self, key: str) -> list[str]:
        keys = self._key_names.get(key)
        if keys is None:  # built once per gateway key: this runs on every request
            base = f"{self.prefix}:k:{key}"
            keys = self._key_names[key] = [f"{base}:req", f"{base}:tok", f"{base}:tok_total", f"{base}:par", self._global]
        return keys

    async def start(self) -> None:
        """Connect and load the scripts before the first request needs them (best effort: a Redis
        that is down now is the policy's business, request by request)."""
        try:
            await self.client.script_load(_CHECK)
            await self.client.script_load(_FLUSH)
        except (RedisError, OSError):
            pass

    def _take(self) -> list[Any]:
        queued, self._queued = self._queued, []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return [self.prefix, len(queued) // 5, *queued]

    async def check(self, key: str, limits: Limits, ticket: str, tokens: int, count: bool, lease_ms: int) -> Decision:
        args: list[Any] = [limits.rpm, limits.tpm, limits.max_parallel, limits.global_rpm, ticket, lease_ms,
                           tokens, 1 if count else 0, WINDOW_MS, *self._take()]
        try:
            reason, retry, rused, rreset, tused, treset, inflight = await self._check(keys=self._keys(key), args=args)
        except (RedisError, OSError) as exc:
            raise BackendError(type(exc).__name__) from None
        return Decision(REASONS[int(reason)], int(retry), int(rused), int(rreset), int(tused), int(treset), int(inflight))

    def settle(self, key: str, ticket: str, reserved: int, actual: int, parallel: bool) -> None:
        if len(self._queued) >= MAX_QUEUED * 5:
            return
        self._queued += (key, ticket, reserved, actual, 1 if parallel else 0)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_S, self._flush_now)

    def _flush_now(self) -> None:
        self._timer = None
        if self._queued:
            task = asyncio.get_running_loop().create_task(self._send_flush(self._take()))
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    async def _send_flush(self, args: list[Any]) -> None:
        try:
            await self._flush(keys=[], args=args)
        except (RedisError, OSError):
            pass  # Redis is down: leases expire on their own, reservations stay charged

    async def aclose(self) -> None:
        if self._queued:
            await self._send_flush(self._take())
        if self._flushing:
            await asyncio.wait(list(self._flushing), timeout=2)
        await self.client.aclose()
