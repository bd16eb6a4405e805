"""The interface every limits backend implements, and what a check answers.

Both backends keep exact sliding windows of 60 s (a "sliding window log"): a request is admitted
when fewer than ``rpm`` requests were admitted in the last 60 s, whatever the clock says, so a burst
at a minute boundary cannot get twice the limit. Tokens are a log of (time, amount) entries with a
running total; an entry's amount is corrected in place when the real usage is known.
``max_parallel`` is a set of leases that each expire on their own, so a crashed worker cannot hold
slots for ever. ``global_rpm`` is one more request window, shared by every caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

WINDOW_MS = 60_000

# Why a check refused; "" = admitted.
OK, REQUESTS, TOKENS, PARALLEL, GLOBAL = "", "requests", "tokens", "parallel", "global"
REASONS = (OK, REQUESTS, TOKENS, PARALLEL, GLOBAL)


@dataclass(slots=True)
class Limits:
    """The numbers one check applies (0 = no such limit)."""

    rpm: int
    tpm: int
    max_parallel: int
    global_rpm: int


@dataclass(slots=True)
class Decision:
    reason: str  # "" when admitted
    retry_after_ms: int
    used_requests: int  # in the current window, this request included when admitted
    reset_requests_ms: int  # until the oldest counted request leaves the window
    used_tokens: int
    reset_tokens_ms: int
    in_flight: int

    @property
    def allowed(self) -> bool:
        return not self.reason


class BackendError(Exception):
    """The backend could not answer (Redis down, timed out); the configured policy applies."""


class Backend(Protocol):
    name: str

    async def check(self, key: str, limits: Limits, ticket: str, tokens: int, count: bool, lease_ms: int) -> Decision:
        """Admit (``count``) or only look (``count=False``); on admission, record the request, reserve
        ``tokens`` and take a parallel lease, all at once or not at all."""
        ...

    def settle(self, key: str, ticket: str, reserved: int, actual: int, parallel: bool) -> None:
        """Release the parallel lease and replace the reserved tokens by the real usage. Never
        waits: a backend across the network queues it and sends it with its next call."""
        ...

    async def aclose(self) -> None: ...
