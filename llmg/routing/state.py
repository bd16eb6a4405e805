"""What routing remembers about each deployment: in-flight count, latency average, circuit breaker.

Everything here is per worker today (``MemoryState``). The router talks to it only through the
``RoutingState`` protocol, so a shared backend (Redis, from the keys-and-limits work) can take its
place without touching the strategies or the retry loop. All methods are synchronous and O(1) on
the happy path: they run on every routed request.

Breaker: ``failures`` health failures (connect, timeout, 429, 5xx) within ``window_s`` open the
breaker for ``cooldown_s``; after that the deployment is half-open and exactly one request (the
probe) may use it. The probe's success closes the breaker, its failure opens it again.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger("llmg.routing")

# Weight of the newest time-to-first-byte sample in the moving average.
LATENCY_ALPHA = 0.3


class RoutingState(Protocol):
    def available(self, key: str, now: float, max_in_flight: int | None) -> bool:
        """May a new attempt use this deployment now (breaker, half-open probe, in-flight cap)?"""
        ...

    def rate_limited_until(self, key: str) -> float:
        """The time a Retry-After asked us to wait for (0 when none)."""
        ...

    def in_flight(self, key: str) -> int: ...

    def latency(self, key: str) -> float | None:
        """Moving average of time to first byte in seconds; None before the first sample."""
        ...

    def begin(self, key: str, now: float) -> None:
        """An attempt starts (counts in flight; in half-open state it is the probe)."""
        ...

    def success(self, key: str, ttfb: float | None) -> None: ...

    def failure(self, key: str, now: float, retry_after: float | None = None) -> None: ...

    def neutral(self, key: str, answered: bool = True) -> None:
        """The attempt ended without a health failure: the upstream ``answered`` (a 400), or the
        attempt was abandoned (the client left), which says nothing either way."""
        ...

    def finish(self, key: str) -> None:
        """The attempt no longer holds the deployment (answer sent, stream closed)."""
        ...

    def breaker(self, key: str, now: float) -> str:
        """"closed", "open" or "half-open": for tests and diagnostics."""
        ...


@dataclass(slots=True)
class _Slot:
    in_flight: int = 0
    latency: float | None = None
    failures: deque[float] = field(default_factory=deque)
    open_until: float = 0.0  # > 0: the breaker opened; half-open once now >= open_until
    probing: bool = False  # the half-open probe is out
    retry_after_until: float = 0.0


class MemoryState:
    """Per-worker routing state: plain objects, no locks (one event loop per worker)."""

    def __init__(self, failures: int, window_s: float, cooldown_s: float) -> None:
        self.failures_to_open = failures
        self.window_s = window_s
        self.cooldown_s = cooldown_s
        self._slots: dict[str, _Slot] = {}

    def _slot(self, key: str) -> _Slot:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        return slot

    def available(self, key: str, now: float, max_in_flight: int | None) -> bool:
        slot = self._slot(key)
        if slot.open_until:
            if now < slot.open_until or slot.probing:
                return False
        return max_in_flight is None or slot.in_flight < max_in_flight

    def rate_limited_until(self, key: str) -> float:
        return self._slot(key).retry_after_until

    def in_flight(self, key: str) -> int:
        return self._slot(key).in_flight

    def latency(self, key: str) -> float | None:
        return self._slot(key).latency

    def begin(self, key: str, now: float) -> None:
        slot = self._slot(key)
        slot.in_flight += 1
        if slot.open_until and now >= slot.open_until and not slot.probing:
            slot.probing = True

    def success(self, key: str, ttfb: float | None) -> None:
        slot = self._slot(key)
        if slot.open_until:  # the probe got through: close
            log.info("deployment %s: circuit closed", key)
            slot.open_until = 0.0
            slot.probing = False
            slot.failures.clear()
        slot.retry_after_until = 0.0
        if ttfb is not None:
            slot.latency = ttfb if slot.latency is None else slot.latency + LATENCY_ALPHA * (ttfb - slot.latency)

    def failure(self, key: str, now: float, retry_after: float | None = None) -> None:
        slot = self._slot(key)
        if retry_after:
            slot.retry_after_until = max(slot.retry_after_until, now + retry_after)
        if slot.open_until:  # half-open probe failed (or a straggler from before it opened): reopen
            if slot.probing:
                log.warning("deployment %s: probe failed, circuit open for %.0f s", key, self.cooldown_s)
            slot.open_until = now + self.cooldown_s
            slot.probing = False
            return
        failures = slot.failures
        failures.append(now)
        horizon = now - self.window_s
        while failures and failures[0] < horizon:
            failures.popleft()
        if len(failures) >= self.failures_to_open:
            slot.open_until = now + self.cooldown_s
            slot.probing = False
            failures.clear()
            log.warning("deployment %s: circuit open for %.0f s after %d failures", key, self.cooldown_s, self.failures_to_open)

    def neutral(self, key: str, answered: bool = True) -> None:
        slot = self._slot(key)
        if slot.probing:
            slot.probing = False  # abandoned: still half-open, the next request probes
            if answered:  # the upstream answered, so it is reachable: close
                slot.open_until = 0.0
                slot.failures.clear()

    def finish(self, key: str) -> None:
        slot = self._slot(key)
        if slot.in_flight > 0:
            slot.in_flight -= 1

    def breaker(self, key: str, now: float) -> str:
        slot = self._slot(key)
        if not slot.open_until:
            return "closed"
        return "open" if now < slot.open_until or slot.probing else "half-open"
