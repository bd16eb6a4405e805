"""One worker's live configuration as a single immutable object, swapped whole on reload.

Everything a request needs that comes from ``llmg.toml`` (the config, gateway auth, the provider
adapters, aliases and routes, the model directory) hangs off one ``Runtime``. The worker keeps the
current one at ``app.ctx.runtime``; a reload builds a new one off to the side and replaces it with
one attribute assignment, so a request never sees half of an old config and half of a new one.

A request pins the runtime it started with (``current(request)``, called first by the auth signal):
it keeps using that one to the end even if a reload lands in the middle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sanic import Request

from .auth import GatewayAuth
from .config import LoadedConfig
from .context import app_context
from .model_directory import ModelDirectory
from .providers import registry
from .providers.base import Provider
from .routing import ModelResolver
from .routing.build import build_groups
from .transports import Transport

log = logging.getLogger("llmg.runtime")


@dataclass(frozen=True, slots=True, eq=False)  # identity, not field, equality: hashable, cheap
class Runtime:
    loaded: LoadedConfig
    plan: registry.Plan
    auth: GatewayAuth
    resolver: ModelResolver  # aliases, provider/model and routing groups
    deployment_adapters: dict[str, Provider]  # groups' deployments with their own key or base_url
    models: ModelDirectory
    generation: int  # 1 at start, +1 per successful reload: shows in /health/ready

    @property
    def providers(self) -> dict[str, Provider]:
        return self.resolver.providers

    async def aclose(self) -> None:
        """Release what this runtime opened (not the transport: that belongs to the worker)."""
        await self.models.stop()
        for provider in [*self.providers.values(), *self.deployment_adapters.values()]:
            try:
                await provider.aclose()
            except Exception:  # one adapter's failure to close must not keep the others open
                log.warning("provider %s did not close cleanly", provider.name, exc_info=True)


def build(loaded: LoadedConfig, plan: registry.Plan, transport: Transport, generation: int) -> Runtime:
    """A complete runtime for a validated config; starts its model directory's refresh task."""
    config = loaded.config
    gate = GatewayAuth(config.server.auth, config)
    if gate.unusable:
        log.warning(
            "gateway keys: %d key(s) are empty or refer to an unset variable and will never match: %s",
            gate.unusable, ", ".join(gate.ring.unusable),
        )
    if not gate.enabled and gate.ring.policies:
        log.warning("server.auth.enabled = false: the [keys] tables and their limits are not applied")
    providers = registry.instantiate(plan.registered, transport)
    # Routing groups: deployments with their own key/base_url get their own adapter, built here once.
    deployment_adapters = registry.instantiate(plan.deployments, transport)
    groups = build_groups(config, providers, deployment_adapters)
    models = ModelDirectory(providers, groups=list(groups))
    models.start()
    return Runtime(loaded, plan, gate, ModelResolver(providers, config.aliases, groups), deployment_adapters,
                   models, generation)


def current(request: Request, ctx: Any = None) -> Runtime:
    """The runtime this request runs on: the worker's current one, pinned at the first call.

    ``ctx``: ``request.ctx`` when the caller holds it already (Sanic's ``ctx`` is a property: a
    Python call per read, on the hot path)."""
    if ctx is None:
        ctx = request.ctx
    runtime: Runtime | None = getattr(ctx, "runtime", None)
    if runtime is None:
        runtime = ctx.runtime = app_context(request).runtime
    return runtime
