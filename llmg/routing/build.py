"""Groups from the config: planned once at start-up (no I/O), built once per worker.

``plan_deployments`` runs inside ``registry.plan`` (so ``llmg serve`` and ``llmg check-config``
report a bad group as a ConfigError naming the key): it checks that every deployment's provider
can register and resolves the Settings of deployments that need their own adapter instance (their
own ``api_key``, ``base_url`` or ``connect_timeout_s``). ``build_groups`` then wires adapters,
strategies and the per-worker state together in ``before_server_start``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import msgspec

from ..config import Config, ConfigError, DeploymentConfig, LoadedConfig, ProviderConfig
from ..providers.base import Provider, Settings
from ..transports import Timeout
from . import strategies
from .group import Deployment, Group, Policy
from .resolver import _MODEL_ID
from .state import MemoryState, RoutingState

if TYPE_CHECKING:
    from ..providers.registry import Plan


def deployment_key(group: str, index: int) -> str:
    return f"{group}[{index}]"


def _needs_own_adapter(dep: DeploymentConfig) -> bool:
    return dep.api_key is not None or dep.base_url is not None or dep.connect_timeout_s is not None


def _check_model(src: str, where: str, model: str) -> None:
    rest = model.partition("/")[2]
    if _MODEL_ID.fullmatch(rest) is None or ".." in rest:
        raise ConfigError(f"{src}: {where}: invalid model id {model!r}")


def plan_deployments(loaded: LoadedConfig, plan: Plan, environ: Mapping[str, str]) -> dict[str, Settings]:
    """Settings for each deployment with its own adapter, keyed by deployment_key()."""
    from ..providers import registry

    config, src = loaded.config, loaded.source
    own: dict[str, Settings] = {}
    for name, group in config.groups.items():
        for i, dep in enumerate(group.deployments):
            where = f"groups.{name}.deployments[{i}]"
            provider = dep.model.partition("/")[0]
            _check_model(src, f"{where}.model", dep.model)
            if not _needs_own_adapter(dep):
                if provider not in plan.registered:
                    reason = plan.skipped.get(provider, "not in the provider catalogue")
                    raise ConfigError(f"{src}: {where}: provider {provider!r} is not registered: {reason}")
                continue
            section = config.providers.get(provider) or ProviderConfig()
            section = msgspec.structs.replace(
                section,
                enabled=True,
                api_key=dep.api_key if dep.api_key is not None else section.api_key,
                base_url=dep.base_url if dep.base_url is not None else section.base_url,
            )
            unset = {}
            if f"{where}.api_key" in loaded.unset_vars:
                unset[f"providers.{provider}.api_key"] = loaded.unset_vars[f"{where}.api_key"]
            sub = LoadedConfig(Config(server=config.server, providers={provider: section}), src, unset_vars=unset)
            try:
                sub_plan = registry.plan(sub, environ)
            except ConfigError as exc:
                raise ConfigError(f"{src}: {where}: {str(exc).removeprefix(src + ': ')}") from None
            settings = sub_plan.registered.get(provider)
            if settings is None:
                reason = sub_plan.skipped.get(provider, "not in the provider catalogue")
                raise ConfigError(f"{src}: {where}: provider {provider!r} cannot be used: {reason}")
            plan.warnings.extend(f"{where}: {w}" for w in sub_plan.warnings if w.startswith(f"{provider}:"))
            connect = dep.connect_timeout_s or settings.timeout.connect
            own[deployment_key(name, i)] = replace(settings, timeout=Timeout(total=settings.timeout.total, connect=connect))
    targets = list(config.router.default_fallbacks)
    for group in config.groups.values():
        targets.extend(group.fallbacks or ())
    for target in targets:
        if target in config.groups:
            continue
        provider = target.partition("/")[0]
        _check_model(src, "fallback", target)
        if provider not in plan.registered:
            reason = plan.skipped.get(provider, "not in the provider catalogue")
            raise ConfigError(f"{src}: fallback {target!r}: provider {provider!r} is not registered: {reason}")
    return own


def make_state(config: Config) -> RoutingState:
    cooldown = config.router.cooldown
    return MemoryState(cooldown.failures, cooldown.window_s, cooldown.cooldown_s)


def build_groups(
    config: Config,
    providers: Mapping[str, Provider],
    own: Mapping[str, Provider],
    state: RoutingState | None = None,
    rng: random.Random | None = None,
) -> dict[str, Group]:
    if not config.groups:
        return {}
    router = config.router
    state = state if state is not None else make_state(config)
    rng = rng if rng is not None else random.Random()
    policy = Policy(
        retry_on=frozenset(router.retry_on),
        fallback_on=frozenset(router.fallback_on),
        backoff_base=router.backoff_base_ms / 1000,
        backoff_max=router.backoff_max_ms / 1000,
        deadline=router.deadline_s,
    )
    groups: dict[str, Group] = {}
    for name, gc in config.groups.items():
        size = len(gc.deployments)
        deployments = []
        for i, dep in enumerate(gc.deployments):
            key = deployment_key(name, i)
            prefix, _, model = dep.model.partition("/")
            deployments.append(
                Deployment(
                    key=key,
                    label=dep.name or dep.model,
                    provider=own.get(key) or providers[prefix],
                    model=model,
                    full=dep.model,
                    weight=dep.weight,
                    index=i,
                    group_size=size,
                    ttft_timeout=dep.ttft_timeout_s,
                    total_timeout=dep.timeout_s,
                    idle_timeout=dep.idle_timeout_s,
                    max_in_flight=dep.max_in_flight,
                )
            )
        strategy = strategies.make(gc.strategy, rng, router.latency_exploration)
        groups[name] = Group(name, deployments, strategy, gc.max_attempts or router.max_attempts, state, policy, rng)

    # A provider/model fallback is a one-deployment group with one attempt, shared by every group
    # that names it (so its breaker state is shared too).
    direct: dict[str, Group] = {}
    for name, gc in config.groups.items():
        chain = [groups[name]]
        for target in gc.fallbacks if gc.fallbacks is not None else router.default_fallbacks:
            if target == name:
                continue
            if target in groups:
                chain.append(groups[target])
                continue
            if target not in direct:
                prefix, _, model = target.partition("/")
                fallback = Deployment(f"fallback:{target}", target, providers[prefix], model, target, 1.0, 0, 1,
                                      None, None, None, None)
                direct[target] = Group(target, [fallback], strategies.RoundRobin(), 1, state, policy, rng)
            chain.append(direct[target])
        groups[name].chain = tuple(chain)
    return groups
