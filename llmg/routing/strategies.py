"""Load-balancing strategies: pick one deployment out of the ones that may take a request now.

Each strategy is a small object with ``pick(candidates, state)``; ``candidates`` is never empty
and keeps the group's configured order. Picks are O(number of deployments) with no allocation
beyond the weights list of the weighted strategy.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from .state import RoutingState

if TYPE_CHECKING:
    from .group import Deployment


class Strategy(Protocol):
    def pick(self, candidates: Sequence[Deployment], state: RoutingState) -> Deployment: ...


class Weighted:
    """Random, in proportion to ``weight``."""

    def __init__(self, rng: random.Random) -> None:
        self._random = rng.random

    def pick(self, candidates: Sequence[Deployment], state: RoutingState) -> Deployment:
        if len(candidates) == 1:
            return candidates[0]
        total = 0.0
        for dep in candidates:
            total += dep.weight
        point = self._random() * total
        for dep in candidates:
            point -= dep.weight
            if point < 0:
                return dep
        return candidates[-1]  # float rounding at the very top end


class RoundRobin:
    """Each deployment in turn; one that is skipped (breaker, in-flight cap) loses its turn."""

    def __init__(self) -> None:
        self._next = 0

    def pick(self, candidates: Sequence[Deployment], state: RoutingState) -> Deployment:
        start = self._next
        best = candidates[0]
        best_distance = None
        # The first candidate at or after the cursor, in the group's order (deployment.index).
        for dep in candidates:
            distance = (dep.index - start) % dep.group_size
            if best_distance is None or distance < best_distance:
                best, best_distance = dep, distance
        self._next = best.index + 1
        return best


class LeastBusy:
    """Fewest requests in flight; ties go round-robin so equal load spreads evenly."""

    def __init__(self) -> None:
        self._ties = RoundRobin()

    def pick(self, candidates: Sequence[Deployment], state: RoutingState) -> Deployment:
        if len(candidates) == 1:
            return candidates[0]
        counts = [state.in_flight(dep.key) for dep in candidates]
        lowest = min(counts)
        tied = [dep for dep, count in zip(candidates, counts, strict=True) if count == lowest]
        return tied[0] if len(tied) == 1 else self._ties.pick(tied, state)


class Latency:
    """Lowest moving average of time to first byte.

    A deployment never measured is tried first; a share ``exploration`` of requests goes to a
    random candidate, so one that was slow (or failing) is measured again and wins back its
    traffic once it has recovered.
    """

    def __init__(self, rng: random.Random, exploration: float) -> None:
        self._random = rng.random
        self._choice = rng.choice
        self.exploration = exploration

    def pick(self, candidates: Sequence[Deployment], state: RoutingState) -> Deployment:
        if len(candidates) == 1:
            return candidates[0]
        if self.exploration and self._random() < self.exploration:
            return self._choice(candidates)
        best = candidates[0]
        best_latency = None
        for dep in candidates:
            latency = state.latency(dep.key)
            if latency is None:
                return dep
            if best_latency is None or latency < best_latency:
                best, best_latency = dep, latency
        return best


def make(name: str, rng: random.Random, exploration: float) -> Strategy:
    if name == "weighted":
        return Weighted(rng)
    if name == "round-robin":
        return RoundRobin()
    if name == "least-busy":
        return LeastBusy()
    if name == "latency":
        return Latency(rng, exploration)
    raise ValueError(f"unknown strategy {name!r}")  # config validation makes this unreachable
