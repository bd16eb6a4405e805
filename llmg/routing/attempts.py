"""The retry loop: attempts across a group's deployments, then its fallbacks, within one deadline.

Rules (issue 12):
- Only the failure classes in ``router.retry_on`` (connect, timeout, 429, 5xx) are retried; any
  other error goes straight back to the client.
- A retry prefers a deployment not tried yet, with no wait: the failure belonged to the other one.
  A retry on the same deployment waits a full-jitter backoff (uniform in [0, min(max, base*2^n)]),
  and at least as long as its ``Retry-After`` said; a wait that would pass the deadline ends the
  group instead.
- A stream is only handed to the client once its first chunk has arrived, so every failure before
  that is retryable and nothing after it is ever retried.
- When the group is exhausted (attempts used up, or no deployment may take the request), its
  fallbacks are tried in order; a context-window or content-policy 400 goes to them directly.
- Nothing left -> 503 ``provider_error`` naming the group (a fallback-worthy 400 is returned as is).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ..errors import GatewayError, ProviderError, UpstreamTimeout
from ..providers.base import Call, Reply
from .classify import CONTENT_POLICY, CONTEXT_WINDOW, HEALTH, RATE_LIMIT, classify, retry_after

if TYPE_CHECKING:
    from .group import Deployment, Group

log = logging.getLogger("llmg.routing")

DEPLOYMENT_HEADER = "x-llmg-deployment"
ATTEMPTS_HEADER = "x-llmg-attempts"


class RoutedStream:
    """A group's stream for the client: the first chunk (already received), then the rest.

    It carries the routing headers, which must go out before the first byte, holds the deployment
    (in flight) until it is closed, applies the deployment's idle and total limits, and reports a
    failure after the first byte to the breaker. ``aclose`` is idempotent and works whether or not
    iteration ever started, so the deployment is always released.
    """

    __slots__ = ("headers", "_first", "_chunks", "_state", "_dep", "_end", "_closed")

    def __init__(
        self, first: bytes | None, chunks: AsyncIterator[bytes], group: Group, dep: Deployment, end: float | None,
        headers: dict[str, str],
    ) -> None:
        self.headers = headers
        self._first = first
        self._chunks = chunks
        self._state = group.state
        self._dep = dep
        self._end = end
        self._closed = False

    def __aiter__(self) -> RoutedStream:
        return self

    async def __anext__(self) -> bytes:
        first = self._first
        if first is not None:
            self._first = None
            return first
        if self._closed:
            raise StopAsyncIteration
        dep = self._dep
        try:
            if dep.idle_timeout is None and self._end is None:
                return await self._chunks.__anext__()
            now = asyncio.get_running_loop().time()
            limit = now + dep.idle_timeout if dep.idle_timeout is not None else self._end
            stalled = True
            if self._end is not None and limit > self._end:  # type: ignore[operator]
                limit, stalled = self._end, False
            try:
                async with asyncio.timeout_at(limit):
                    return await self._chunks.__anext__()
            except TimeoutError:
                what = "stalled" if stalled else "ran past its time limit"
                raise UpstreamTimeout(f"{dep.provider.name}: the stream {what}", code="upstream_timeout") from None
        except StopAsyncIteration:
            await self.aclose()
            raise
        except GatewayError as exc:
            if classify(exc) in HEALTH:
                self._state.failure(dep.key, asyncio.get_running_loop().time())
            await self.aclose()
            raise
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._first = None
        self._state.finish(self._dep.key)
        await _close(self._chunks)


async def run(group: Group, op: str, call: Call) -> Reply | RoutedStream:
    loop = asyncio.get_running_loop()
    policy = group.policy
    deadline = loop.time() + policy.deadline
    attempts = 0
    last: GatewayError | None = None
    last_kind: str | None = None
    out_of_time = False
    for target in group.chain:
        if out_of_time:
            break
        tried: list[Deployment] = []
        used = 0
        while used < target.max_attempts:
            now = loop.time()
            if now >= deadline:  # an attempt now would time out at once, and count against its deployment
                out_of_time = True
                break
            dep, wait_until = target.choose(tried, now)
            if dep is None:
                break
            delay = wait_until - now if wait_until > now else 0.0
            if dep in tried:
                cap = min(policy.backoff_max, policy.backoff_base * (2 ** (used - 1)))
                delay = max(delay, target.random() * cap)
            if delay:
                if now + delay >= deadline:
                    break  # this group is done; a fallback may still answer without waiting
                await asyncio.sleep(delay)
            used += 1
            attempts += 1
            tried.append(dep)
            try:
                result = await _attempt(target, dep, op, call, deadline)
            except GatewayError as exc:
                kind = classify(exc)
                last, last_kind = exc, kind
                # The class and the status only: the message may quote the client's input.
                log.info("%s: deployment %s failed (%s, HTTP %d), attempt %d", group.name, dep.label,
                         kind or "not retryable", exc.status, attempts)
                if kind is not None and kind in policy.retry_on:
                    continue
                if kind is not None and kind in policy.fallback_on:
                    break
                exc.headers[ATTEMPTS_HEADER] = str(attempts)
                raise
            headers = {DEPLOYMENT_HEADER: dep.label, ATTEMPTS_HEADER: str(attempts)}
            if op == "stream":
                first, chunks, end = result  # type: ignore[misc]
                return RoutedStream(first, chunks, target, dep, end, headers)
            reply: Reply = result  # type: ignore[assignment]
            if reply.headers:
                headers = {**reply.headers, **headers}
            return Reply(reply.body, reply.status, headers)
    if last is not None and last_kind in (CONTEXT_WINDOW, CONTENT_POLICY):
        last.headers[ATTEMPTS_HEADER] = str(attempts)
        raise last
    raise _unavailable(group, last, attempts)


def _unavailable(group: Group, last: GatewayError | None, attempts: int) -> GatewayError:
    if last is None:
        message = f"{group.name}: no deployment is available (all are cooling down or at capacity)"
    else:
        message = f"{group.name}: no deployment could answer; last error: {last.message}"
    return ProviderError(message, status=503, code="group_unavailable", headers={ATTEMPTS_HEADER: str(attempts)})


async def _attempt(
    group: Group, dep: Deployment, op: str, call: Call, deadline: float
) -> Reply | tuple[bytes | None, AsyncIterator[bytes], float | None]:
    loop = asyncio.get_running_loop()
    state = group.state
    key = dep.key
    start = loop.time()
    routed = Call(call.raw, call.request, dep.full, dep.model, call.request_id, call._data)
    state.begin(key, start)
    handed_over = False
    try:
        if op == "stream":
            limit = deadline
            if dep.ttft_timeout is not None:
                limit = min(limit, start + dep.ttft_timeout)
            if dep.total_timeout is not None:
                limit = min(limit, start + dep.total_timeout)
            async with asyncio.timeout_at(limit):
                chunks = await dep.provider.chat_stream(routed)
                try:
                    first: bytes | None = await chunks.__anext__()
                except StopAsyncIteration:
                    first = None
                except BaseException:
                    await _close(chunks)
                    raise
            state.success(key, loop.time() - start)
            handed_over = True
            end = None if dep.total_timeout is None else start + dep.total_timeout
            return first, chunks, end  # RoutedStream (built by run) releases the deployment
        limit = deadline if dep.total_timeout is None else min(deadline, start + dep.total_timeout)
        async with asyncio.timeout_at(limit):
            if op == "chat":
                reply = await dep.provider.chat(routed)
            else:
                reply = await dep.provider.embeddings(routed)
        state.success(key, loop.time() - start)
        return reply
    except TimeoutError:
        state.failure(key, loop.time())
        raise UpstreamTimeout(f"{dep.provider.name}: upstream timed out", code="upstream_timeout") from None
    except GatewayError as exc:
        kind = classify(exc)
        if kind in HEALTH:
            state.failure(key, loop.time(), retry_after(exc) if kind == RATE_LIMIT else None)
        else:
            state.neutral(key)
        raise
    except BaseException:  # the client left (cancelled), or a bug: no verdict on the deployment
        state.neutral(key, answered=False)
        raise
    finally:
        if not handed_over:
            state.finish(key)


async def _close(chunks: AsyncIterator[bytes]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
