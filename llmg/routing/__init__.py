"""Model names -> where requests go: single ``provider/model`` targets and model groups.

- ``resolver``: ``ModelResolver``, the model string -> (provider, upstream model) rules and groups.
- ``group``/``attempts``: a group of deployments and its retry/fallback loop.
- ``strategies``: weighted, round-robin, least-busy, latency.
- ``state``: per-worker in-flight counts, latency averages, circuit breakers (behind a protocol).
- ``classify``: which failures are retried or fall back.
- ``build``: groups from the config, planned at start-up.
"""

from .group import Deployment, Group, RoutedStream
from .resolver import _MODEL_ID, ModelResolver

__all__ = ["Deployment", "Group", "ModelResolver", "RoutedStream", "_MODEL_ID"]
