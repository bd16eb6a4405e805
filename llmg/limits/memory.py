"""In-process limits: exact for one worker; each worker (and instance) counts on its own."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .backend import GLOBAL, OK, PARALLEL, REQUESTS, TOKENS, WINDOW_MS, Decision, Limits


def _now_ms() -> int:
    return int(time.monotonic() * 1000)


@dataclass(slots=True)
class _State:
    requests: deque[tuple[int, str]] = field(default_factory=deque)
    tokens: deque[list[Any]] = field(default_factory=deque)  # [time_ms, ticket, amount]
    token_entries: dict[str, list[Any]] = field(default_factory=dict)
    token_total: int = 0
    leases: dict[str, int] = field(default_factory=dict)  # ticket -> lease end (ms)


def _trim_requests(window: deque[tuple[int, str]], now: int) -> None:
    edge = now - WINDOW_MS
    while window and window[0][0] <= edge:
        window.popleft()


def _reset(window: deque[Any], now: int) -> int:
    return max(0, window[0][0] + WINDOW_MS - now) if window else 0


class MemoryBackend:
    name = "memory"

    def __init__(self) -> None:
        self._keys: dict[str, _State] = {}
        self._global: deque[tuple[int, str]] = deque()

    def _state(self, key: str) -> _State:
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _State()
        return state

    def _trim_tokens(self, state: _State, now: int) -> None:
        edge = now - WINDOW_MS
        while state.tokens and state.tokens[0][0] <= edge:
            entry = state.tokens.popleft()
            state.token_total -= entry[2]
            state.token_entries.pop(entry[1], None)

    async def check(self, key: str, limits: Limits, ticket: str, tokens: int, count: bool, lease_ms: int) -> Decision:
        now = _now_ms()
        state = self._state(key)
        reason, retry = OK, 0
        if limits.global_rpm:
            _trim_requests(self._global, now)
            if count and len(self._global) >= limits.global_rpm:
                reason, retry = GLOBAL, _reset(self._global, now)
        _trim_requests(state.requests, now)
        used_requests, reset_requests = len(state.requests), _reset(state.requests, now)
        if limits.rpm and count and not reason and used_requests >= limits.rpm:
            reason, retry = REQUESTS, reset_requests
        self._trim_tokens(state, now)
        used_tokens, reset_tokens = max(0, state.token_total), _reset(state.tokens, now)
        if limits.tpm and count and not reason:
            if used_tokens >= limits.tpm or (used_tokens and used_tokens + tokens > limits.tpm):
                reason, retry = TOKENS, reset_tokens or 1000
        for held, end in list(state.leases.items()):
            if end <= now:
                del state.leases[held]
        in_flight = len(state.leases)
        if limits.max_parallel and count and not reason and in_flight >= limits.max_parallel:
            reason, retry = PARALLEL, 1000
        if count and not reason:
            if limits.global_rpm:
                self._global.append((now, ticket))
            if limits.rpm:
                state.requests.append((now, ticket))
                used_requests += 1
                reset_requests = reset_requests or WINDOW_MS
            if limits.tpm and tokens > 0:
                entry = [now, ticket, tokens]
                state.tokens.append(entry)
                state.token_entries[ticket] = entry
                state.token_total += tokens
                used_tokens += tokens
                reset_tokens = reset_tokens or WINDOW_MS
            if limits.max_parallel:
                state.leases[ticket] = now + lease_ms
                in_flight += 1
        return Decision(reason, retry, used_requests, reset_requests, used_tokens, reset_tokens, in_flight)

    def settle(self, key: str, ticket: str, reserved: int, actual: int, parallel: bool) -> None:
        state = self._state(key)
        if parallel:
            state.leases.pop(ticket, None)
        if reserved == actual:
            return
        entry = state.token_entries.get(ticket)
        if entry is not None:  # still inside the window: correct it in place
            state.token_total += actual - entry[2]
            entry[2] = actual
        elif actual > 0:  # reserved nothing, or the reservation already left the window
            entry = [_now_ms(), ticket, actual]
            state.tokens.append(entry)
            state.token_entries[ticket] = entry
            state.token_total += actual

    async def aclose(self) -> None:
        pass
