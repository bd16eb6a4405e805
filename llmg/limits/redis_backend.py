"""Limits shared by every worker and instance through one Redis.

Each check is one atomic Lua script, so one round trip: it trims the windows, decides, and on
admission records the request, reserves the tokens and takes the parallel lease together. The
settling of earlier requests (real token usage, lease release) rides along in the same script, or
goes alone after a few milliseconds when no check comes, so a request costs one round trip.
The scripts name keys of other gateway keys than KEYS[] lists, so this needs one Redis (or a
replicated primary), not Redis Cluster. Time comes from Redis (``TIME``), so instances with skewed
clocks still share one window. The scripts are sent by SHA (EVALSHA); a Redis that lost them (a
restart) answers NOSCRIPT and gets the script itself once (EVAL, which caches it again).

Keys, per gateway key NAME, under ``{prefix}:k:NAME``: ``:req`` (sorted set of admitted tickets by
time), ``:tok`` (sorted set of "ticket:amount" by time) and ``:tok_total`` (their sum), ``:par``
(sorted set of tickets by lease end); ``{prefix}:global:req`` for global_rpm. All expire on their
own once idle.

The hot path is lean on purpose (issue 14: a limited request may cost under 0.3 ms): the command is
packed here from bytes cached per gateway key (only the ticket, the estimate and the queued
settlements are encoded per request), and sent on a connection of redis-py's asyncio client taken
from a free list, under one ``asyncio.timeout``. redis-py's own ``execute_command`` costs about
twice as much CPU per call: its pool takes a lock and records metrics on every get and release,
re-encodes every argument, and arms a ``wait_for`` task for the write and a timeout for the read.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from .backend import REASONS, WINDOW_MS, BackendError, Decision, Limits

# Settling (tokens corrected to the real usage, the parallel lease released) is queued and sent
# with the worker's next check, in the same script, or after FLUSH_S when no check comes: one
# round trip per request instead of two. ARGV from `first` on: per settlement the key's base name
# ("{prefix}:k:NAME"), ticket, reserved, actual, parallel (1/0).
_SETTLE = """
local function settle(first, now)
  for at = first, #ARGV, 5 do
    local k, id = ARGV[at], ARGV[at + 1]
    local reserved, actual = tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
    if ARGV[at + 4] == '1' then redis.call('ZREM', k .. ':par', id) end
    if reserved ~= actual then
      local score = false
      if reserved > 0 then
        local member = id .. ':' .. reserved
        score = redis.call('ZSCORE', k .. ':tok', member)
        if score then redis.call('ZREM', k .. ':tok', member) end
      end
      if score then  -- corrected in place: same time, the total moves by the difference
        if actual > 0 then redis.call('ZADD', k .. ':tok', score, id .. ':' .. actual) end
        redis.call('INCRBY', k .. ':tok_total', actual - reserved)
      elseif actual > 0 then  -- the reservation left the window (or there was none): a new entry
        redis.call('ZADD', k .. ':tok', now, id .. ':' .. actual)
        redis.call('INCRBY', k .. ':tok_total', actual)
        redis.call('PEXPIRE', k .. ':tok', 120000); redis.call('PEXPIRE', k .. ':tok_total', 120000)
      end
    end
  end
end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# KEYS: the key's base name, the global window. ARGV: rpm, tpm, max_parallel, global_rpm, lease,
# window (constant per key), then ticket, estimate, count (1/0), then the settlements.
# A limit of 0 is never looked at when counting (a look, count = 0, reports everything), so an
# rpm-only key runs TIME + 5 commands.
_CHECK = _SETTLE + """
local now = clock()
settle(10, now)
local rpm, tpm, par, grpm = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local lease, W = tonumber(ARGV[5]), tonumber(ARGV[6])
local id, est, count = ARGV[7], tonumber(ARGV[8]), ARGV[9] == '1'
local base, gkey = KEYS[1], KEYS[2]
local old = now - W
local reason, retry = 0, 0
local function reset(key)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] then return math.max(0, tonumber(first[2]) + W - now) end
  return 0
end
if grpm > 0 then
  redis.call('ZREMRANGEBYSCORE', gkey, '-inf', old)
  if count and redis.call('ZCARD', gkey) >= grpm then reason = 4; retry = reset(gkey) end
end
local rkey, rused, rreset = base .. ':req', 0, 0
if rpm > 0 or not count then
  redis.call('ZREMRANGEBYSCORE', rkey, '-inf', old)
  rused, rreset = redis.call('ZCARD', rkey), reset(rkey)
  if count and reason == 0 and rused >= rpm then reason = 1; retry = rreset end
end
local tkey, totkey, tused, treset = base .. ':tok', base .. ':tok_total', 0, 0
if tpm > 0 or not count then
  local gone = redis.call('ZRANGEBYSCORE', tkey, '-inf', old)
  if #gone > 0 then
    local amount = 0
    for i = 1, #gone do amount = amount + tonumber(string.match(gone[i], ':(%-?%d+)$')) end
    redis.call('ZREMRANGEBYSCORE', tkey, '-inf', old)
    redis.call('DECRBY', totkey, amount)
  end
  tused = tonumber(redis.call('GET', totkey) or '0')
  if tused < 0 then tused = 0 end
  treset = reset(tkey)
  if count and reason == 0 and (tused >= tpm or (tused > 0 and tused + est > tpm)) then
    reason = 2; retry = treset
    if retry == 0 then retry = 1000 end
  end
end
local pkey, inflight = base .. ':par', 0
if par > 0 or not count then
  redis.call('ZREMRANGEBYSCORE', pkey, '-inf', now)
  inflight = redis.call('ZCARD', pkey)
  if count and reason == 0 and inflight >= par then reason = 3; retry = 1000 end
end
if count and reason == 0 then
  if grpm > 0 then redis.call('ZADD', gkey, now, id); redis.call('PEXPIRE', gkey, W) end
  if rpm > 0 then
    redis.call('ZADD', rkey, now, id); redis.call('PEXPIRE', rkey, W)
    rused = rused + 1
    if rreset == 0 then rreset = W end
  end
  if tpm > 0 and est > 0 then
    redis.call('ZADD', tkey, now, id .. ':' .. est); redis.call('INCRBY', totkey, est)
    redis.call('PEXPIRE', tkey, W + lease); redis.call('PEXPIRE', totkey, W + lease)
    tused = tused + est
    if treset == 0 then treset = W end
  end
  if par > 0 then
    redis.call('ZADD', pkey, now + lease, id); redis.call('PEXPIRE', pkey, lease)
    inflight = inflight + 1
  end
end
-- One bulk string, not an array of seven integers: redis-py's pure-Python parser reads each
-- element with its own awaited readline (hiredis, which would not, is not a dependency).
return reason .. ' ' .. retry .. ' ' .. rused .. ' ' .. rreset .. ' ' .. tused .. ' ' .. treset .. ' ' .. inflight
"""

_FLUSH = _SETTLE + """
settle(1, clock())
return 0
"""

# A queued settlement waits at most this long for a check to carry it.
FLUSH_S = 0.005
# Settlements queued while Redis is unreachable are dropped past this many (leases expire anyway).
MAX_QUEUED = 10_000
# Idle connections kept for the next checks (one per check in flight is opened as needed).
MAX_IDLE = 32


def _bulk(value: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _command(body: str) -> tuple[bytes, bytes]:
    """The packed EVALSHA head of a script, and its EVAL head for a Redis that lost the script."""
    sha = hashlib.sha1(body.encode()).hexdigest().encode()
    return _bulk(b"EVALSHA") + _bulk(sha), _bulk(b"EVAL") + _bulk(body.encode())


_CHECK_SHA, _CHECK_EVAL = _command(_CHECK)
_FLUSH_SHA, _FLUSH_EVAL = _command(_FLUSH)
_CHECK_FIXED = 14  # elements of a check before its settlements: command, script, numkeys, 2 keys, 9 ARGV
_NO_KEYS = _bulk(b"0")


class RedisBackend:
    name = "redis"

    def __init__(self, url: str, prefix: str, timeout: float) -> None:
        # No retries and no socket timeout inside redis-py: a failed call must reach the policy at
        # once, not after three reconnects, and one asyncio.timeout per call (below) bounds it
        # whole; the limiter itself retries the backend after a short pause.
        self.client = aioredis.Redis.from_url(
            url,
            socket_timeout=None,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            health_check_interval=0,
        )
        self.timeout = timeout
        self.prefix = prefix
        self._global = _bulk(f"{prefix}:global:req".encode())
        self._fixed: dict[tuple[str, int, int, int, int, int], bytes] = {}
        self._bases: dict[str, bytes] = {}
        self._idle: list[AbstractConnection] = []
        self._queued: list[bytes] = []  # packed settlements, five bulk strings each
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Connect and load the scripts before the first request needs them (best effort: a Redis
        that is down now is the policy's business, request by request)."""
        try:
            await self.client.script_load(_CHECK)
            await self.client.script_load(_FLUSH)
        except (RedisError, OSError):
            pass

    def _base(self, key: str) -> bytes:
        """The packed base name of one gateway key's Redis keys, built once."""
        base = self._bases.get(key)
        if base is None:
            base = self._bases[key] = _bulk(f"{self.prefix}:k:{key}".encode())
        return base

    def _fixed_part(self, key: str, limits: Limits, lease_ms: int) -> bytes:
        """The packed keys and constant arguments of one gateway key's checks, built once."""
        cache_key = (key, limits.rpm, limits.tpm, limits.max_parallel, limits.global_rpm, lease_ms)
        fixed = self._fixed.get(cache_key)
        if fixed is None:
            numbers = (limits.rpm, limits.tpm, limits.max_parallel, limits.global_rpm, lease_ms, WINDOW_MS)
            fixed = self._fixed[cache_key] = (_bulk(b"2") + self._base(key) + self._global
                                              + b"".join(_bulk(b"%d" % n) for n in numbers))
        return fixed

    async def _call(self, nargs: int, sha_head: bytes, eval_head: bytes, body: bytes) -> Any:
        """One script call on an idle connection (opened when none is), within the timeout."""
        conn = self._idle.pop() if self._idle else self.client.connection_pool.make_connection()  # type: ignore[no-untyped-call]
        try:
            async with asyncio.timeout(self.timeout):
                head = b"*%d\r\n" % nargs
                await conn.send_packed_command(head + sha_head + body, check_health=False)
                try:
                    return await conn.read_response()
                except NoScriptError:  # Redis restarted: send the script itself, which caches it again
                    await conn.send_packed_command(head + eval_head + body, check_health=False)
                    return await conn.read_response()
        finally:
            # A call cut short (timeout, cancellation, a broken socket) has already disconnected
            # it inside redis-py; the next use reconnects.
            if len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
            else:
                await conn.disconnect(nowait=True)

    def _take(self) -> tuple[int, bytes]:
        queued, self._queued = self._queued, []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return len(queued), b"".join(queued)

    async def check(self, key: str, limits: Limits, ticket: str, tokens: int, count: bool, lease_ms: int) -> Decision:
        fixed = self._fixed_part(key, limits, lease_ms)
        settled, settlements = self._take()
        body = b"".join((fixed, _bulk(ticket.encode()), _bulk(b"%d" % tokens), _bulk(b"1" if count else b"0"),
                         settlements))
        try:
            reply = await self._call(_CHECK_FIXED + settled * 5, _CHECK_SHA, _CHECK_EVAL, body)
            reason, retry, rused, rreset, tused, treset, inflight = map(int, reply.split())
        except (RedisError, OSError, TimeoutError, ValueError, AttributeError) as exc:
            raise BackendError(type(exc).__name__) from None
        return Decision(REASONS[reason], retry, rused, rreset, tused, treset, inflight)

    def settle(self, key: str, ticket: str, reserved: int, actual: int, parallel: bool) -> None:
        if len(self._queued) >= MAX_QUEUED:
            return
        self._queued.append(b"".join((self._base(key), _bulk(ticket.encode()), _bulk(b"%d" % reserved), _bulk(b"%d" % actual),
                                      _bulk(b"1" if parallel else b"0"))))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_S, self._flush_now)

    def _flush_now(self) -> None:
        self._timer = None
        if self._queued:
            task = asyncio.get_running_loop().create_task(self._send_flush(*self._take()))
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    async def _send_flush(self, settled: int, settlements: bytes) -> None:
        try:
            await self._call(3 + settled * 5, _FLUSH_SHA, _FLUSH_EVAL, _NO_KEYS + settlements)
        except (RedisError, OSError, TimeoutError):
            pass  # Redis is down: leases expire on their own, reservations stay charged

    async def aclose(self) -> None:
        if self._queued:
            await self._send_flush(*self._take())
        if self._flushing:
            await asyncio.wait(list(self._flushing), timeout=2)
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.disconnect(nowait=True)
        await self.client.aclose()
