"""The limits gate: admits a named key's request, answers 429 with OpenAI's headers, and settles
the request's tokens and parallel slot when its answer ends.

Request flow (see llmg/auth.py and ``install`` below):
  auth signal, before the body is read  -> ``admit``: one backend call that checks rpm, tpm
      headroom, max_parallel and global_rpm, and on admission counts the request, reserves an
      estimate of the prompt (Content-Length / 4) and takes a parallel lease.
  request middleware, body read         -> the key's model globs (403), and for a TPM-limited
      stream, ``stream_options.include_usage`` is asked for so the real usage arrives.
  response middleware                   -> x-ratelimit-* headers; a complete answer settles at
      once from its ``usage`` (an error refunds the reservation); a stream settles when it ends.
  client gone                           -> the connection task's done-callback settles with the
      estimate, so a slot is never held by a request that no longer exists.
Settling never delays an answer: the memory backend does it at once, the Redis backend sends it
with the worker's next check (or alone a few milliseconds later).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from sanic import HTTPResponse, Request

from ..errors import LimitsUnavailable, PermissionDenied, RateLimited, printable
from ..keys import PLAIN, KeyPolicy
from .backend import GLOBAL, PARALLEL, REQUESTS, TOKENS, Backend, BackendError, Decision, Limits
from .usage import StreamMeter, ask_for_usage, body_tokens

log = logging.getLogger("llmg.limits")

# After a backend failure, requests skip the backend (and get the policy) for this long; then the
# next request tries again, so a Redis that comes back is used again without a restart.
RETRY_AFTER_FAILURE_S = 1.0
# A backend that stays down is reported at most once per this interval.
WARN_INTERVAL_S = 30.0

_MESSAGES = {
    REQUESTS: "requests per minute",
    TOKENS: "tokens per minute",
    PARALLEL: "requests in flight",
    GLOBAL: "requests per minute for the whole gateway",
}


def duration(ms: int) -> str:
    """OpenAI's x-ratelimit-reset-* format: "20ms", "1.5s", "6m0s"."""
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:g}s"


def rate_headers(policy: KeyPolicy, decision: Decision) -> dict[str, str]:
    headers: dict[str, str] = {}
    if policy.rpm:
        headers["x-ratelimit-limit-requests"] = str(policy.rpm)
        headers["x-ratelimit-remaining-requests"] = str(max(0, policy.rpm - decision.used_requests))
        headers["x-ratelimit-reset-requests"] = duration(decision.reset_requests_ms)
    if policy.tpm:
        headers["x-ratelimit-limit-tokens"] = str(policy.tpm)
        headers["x-ratelimit-remaining-tokens"] = str(max(0, policy.tpm - decision.used_tokens))
        headers["x-ratelimit-reset-tokens"] = duration(decision.reset_tokens_ms)
    return headers


class Ticket:
    """One admitted request that still has something to settle (tokens, a parallel lease)."""

    __slots__ = ("gate", "policy", "id", "reserved", "parallel", "done", "task", "meter")

    def __init__(self, gate: Gate, policy: KeyPolicy, ticket_id: str, reserved: int) -> None:
        self.gate = gate
        self.policy = policy
        self.id = ticket_id
        self.reserved = reserved
        self.parallel = bool(policy.max_parallel)
        self.done = False
        self.task: asyncio.Task[Any] | None = None
        self.meter: StreamMeter | None = None

    def settle(self, actual: int | None) -> None:
        """Charge ``actual`` tokens (None: keep the estimate) and release the lease, once."""
        if self.done:
            return
        self.done = True
        if self.task is not None:
            self.task.remove_done_callback(self._abandoned)
            self.task = None
        self.gate.settle(self, self.reserved if actual is None else actual)

    async def wrap_stream(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The outgoing SSE body through the meter; settles when the stream ends, however it ends.
        llmg.streaming.send_stream applies it (``request.ctx.wrap_stream``)."""
        meter = self.meter
        try:
            async for chunk in chunks:
                if meter is not None:
                    chunk = meter.feed(chunk)
                    if not chunk:
                        continue
                yield chunk
            if meter is not None and (rest := meter.flush()):
                yield rest
        finally:
            self.settle(meter.tokens if meter is not None else None)
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:  # closing this wrapper must close the upstream too
                await aclose()

    def _abandoned(self, _task: asyncio.Task[Any]) -> None:
        self.task = None
        self.settle(None)


class _Peek(msgspec.Struct):
    """The few request fields the gate needs; everything else is skipped by the decoder."""

    model: str | None = None
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None


_peek = msgspec.json.Decoder(_Peek)


class Gate:
    def __init__(self, backend: Backend, *, on_error: str, global_rpm: int, lease_s: float,
                 aliases: dict[str, str]) -> None:
        self.backend = backend
        self.closed_on_error = on_error == "closed"
        self.global_rpm = global_rpm
        self.lease_ms = int(lease_s * 1000)
        self.aliases = aliases
        self.backend_errors = 0  # the metric: backend calls that failed since start
        self._skip_until = 0.0
        self._warned_at = -math.inf
        self._ids = itertools.count()
        self._prefix = secrets.token_hex(6)

    @property
    def backend_healthy(self) -> bool:
        return time.monotonic() >= self._skip_until

    def _limits(self, policy: KeyPolicy) -> Limits:
        return Limits(policy.rpm, policy.tpm, policy.max_parallel, self.global_rpm)

    def applies_to(self, policy: KeyPolicy) -> bool:
        return policy.limited or bool(self.global_rpm)

    def _failed(self, exc: BaseException) -> None:
        self.backend_errors += 1
        now = time.monotonic()
        self._skip_until = now + RETRY_AFTER_FAILURE_S
        if now - self._warned_at >= WARN_INTERVAL_S:
            self._warned_at = now
            policy = "answering 503" if self.closed_on_error else "serving without limits"
            log.warning("limits backend %s unavailable (%s): %s until it answers again",
                        self.backend.name, exc, policy)

    async def _check(self, policy: KeyPolicy, ticket: str, tokens: int, count: bool) -> Decision | None:
        """The backend's answer, or None when it is down (the caller applies the policy)."""
        if time.monotonic() < self._skip_until:
            return None
        try:
            return await self.backend.check(policy.name, self._limits(policy), ticket, tokens, count, self.lease_ms)
        except BackendError as exc:
            self._failed(exc)
            return None

    async def admit(self, request: Request, policy: KeyPolicy) -> None:
        """Count a model call against the key (and the gateway); raise 429 / 503 when refused."""
        count = request.method == "POST"
        ticket_id = f"{self._prefix}{next(self._ids):x}"
        estimate = 0
        if count and policy.tpm:
            length = request.headers.get("content-length")
            estimate = int(length) // 4 if length and length.isdigit() else 0
        decision = await self._check(policy, ticket_id, estimate, count)
        if decision is None:
            if self.closed_on_error and count:
                raise LimitsUnavailable()
            return  # open (or a GET, which is never counted): served without limits
        headers = rate_headers(policy, decision)
        request.ctx.rate_headers = headers
        if not decision.allowed:
            retry = max(1, math.ceil(decision.retry_after_ms / 1000))
            limit = {REQUESTS: policy.rpm, TOKENS: policy.tpm, PARALLEL: policy.max_parallel,
                     GLOBAL: self.global_rpm}[decision.reason]
            who = "the gateway" if decision.reason == GLOBAL else f"key '{policy.name}'"
            raise RateLimited(
                f"Rate limit reached for {who}: {limit} {_MESSAGES[decision.reason]}. Retry after {retry} s.",
                code="rate_limit_exceeded" if decision.reason != PARALLEL else "too_many_parallel_requests",
                headers={**headers, "retry-after": str(retry)},
            )
        if count and (policy.tpm or policy.max_parallel):
            ticket = Ticket(self, policy, ticket_id, estimate)
            task = asyncio.current_task()
            if task is not None:  # the connection's task: it ends if the client goes away
                task.add_done_callback(ticket._abandoned)
                ticket.task = task
            request.ctx.limit_ticket = ticket
            request.ctx.wrap_stream = ticket.wrap_stream

    async def usage(self, policy: KeyPolicy) -> Decision | None:
        return await self._check(policy, "", 0, False)

    # --- after the body is read ------------------------------------------------------------------

    def before_handler(self, request: Request) -> None:
        policy: KeyPolicy = getattr(request.ctx, "key", PLAIN)
        if request.method != "POST" or (policy._models_re is None and not policy.tpm):
            return
        try:
            peek = _peek.decode(request.body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return  # the route answers 400 for a body it cannot read
        model = peek.model
        if model is not None and not policy.allows_model(model, self.aliases.get(model, "")):
            raise PermissionDenied(
                f"Key '{policy.name}' may not use model '{printable(model)}'", param="model", code="model_not_allowed"
            )
        if policy.tpm and peek.stream and getattr(request.ctx, "limit_ticket", None) is not None:
            request.ctx.limit_ticket.meter = ask_for_usage(request, peek.stream_options)

    # --- on the way out --------------------------------------------------------------------------

    def on_response(self, request: Request, response: HTTPResponse) -> None:
        headers = getattr(request.ctx, "rate_headers", None)
        if headers:
            response.headers.update(headers)
        ticket: Ticket | None = getattr(request.ctx, "limit_ticket", None)
        if ticket is None or ticket.done:
            return
        if response.status >= 400:
            ticket.settle(0)  # refused or failed before any answer: refund the reservation
        elif response.content_type and response.content_type.startswith("text/event-stream"):
            pass  # the stream settles when it ends (Ticket.wrap_stream)
        elif ticket.policy.tpm:
            ticket.settle(body_tokens(response.body or b""))
        else:
            ticket.settle(None)

    def settle(self, ticket: Ticket, actual: int) -> None:
        self.backend.settle(ticket.policy.name, ticket.id, ticket.reserved, actual, ticket.parallel)

    async def aclose(self) -> None:
        await self.backend.aclose()
