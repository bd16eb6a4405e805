"""A model group: one public model name served by several deployments.

A ``Group`` looks like a provider to the routes (``chat``, ``chat_stream``, ``embeddings``), so
the route code does not branch on it; behind that, ``attempts.run`` picks deployments, retries
and falls back. Groups are built once per worker at start-up (``build.build_groups``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from ..providers.base import Call, Provider, Reply
from .attempts import RoutedStream, run
from .state import RoutingState
from .strategies import Strategy

__all__ = ["Deployment", "Group", "Policy", "RoutedStream"]


@dataclass(slots=True, eq=False)
class Deployment:
    key: str  # unique per worker; the state key ("group[i]", or "fallback:provider/model")
    label: str  # what x-llmg-deployment says: its `name`, else "provider/model" (never a key)
    provider: Provider  # the shared adapter, or its own when it has its own key/base_url
    model: str  # the upstream model id
    full: str  # "provider/model"
    weight: float
    index: int  # position in the group, for round-robin
    group_size: int
    ttft_timeout: float | None
    total_timeout: float | None
    idle_timeout: float | None
    max_in_flight: int | None


@dataclass(slots=True, frozen=True)
class Policy:
    """The [router] settings the retry loop needs, in seconds."""

    retry_on: frozenset[str]
    fallback_on: frozenset[str]
    backoff_base: float
    backoff_max: float
    deadline: float


class Group:
    def __init__(
        self,
        name: str,
        deployments: list[Deployment],
        strategy: Strategy,
        max_attempts: int,
        state: RoutingState,
        policy: Policy,
        rng: random.Random,
    ) -> None:
        self.name = name
        self.deployments = deployments
        self.strategy = strategy
        self.max_attempts = max_attempts
        self.state = state
        self.policy = policy
        self.random = rng.random
        # This group first, then its fallbacks in order (set by build_groups once all exist).
        self.chain: tuple[Group, ...] = (self,)

    def choose(self, tried: Sequence[Deployment], now: float) -> tuple[Deployment | None, float]:
        """The deployment for the next attempt, and the time to wait for (a Retry-After), or 0.

        Untried deployments first; then one already tried (a retry on the same one); a
        deployment that asked us to wait (Retry-After) only when nothing else can answer.
        """
        state = self.state
        fresh: list[Deployment] = []
        again: list[Deployment] = []
        waiting: Deployment | None = None
        waiting_until = 0.0
        for dep in self.deployments:
            if not state.available(dep.key, now, dep.max_in_flight):
                continue
            until = state.rate_limited_until(dep.key)
            if until > now:
                if waiting is None or until < waiting_until:
                    waiting, waiting_until = dep, until
            elif dep in tried:
                again.append(dep)
            else:
                fresh.append(dep)
        if fresh:
            return self.strategy.pick(fresh, state), 0.0
        if again:
            return self.strategy.pick(again, state), 0.0
        return waiting, waiting_until

    # --- the provider-shaped interface the routes call -------------------------------------------

    async def chat(self, call: Call) -> Reply:
        return await run(self, "chat", call)  # type: ignore[return-value]

    async def chat_stream(self, call: Call) -> RoutedStream:
        return await run(self, "stream", call)  # type: ignore[return-value]

    async def embeddings(self, call: Call) -> Reply:
        return await run(self, "embeddings", call)  # type: ignore[return-value]
