"""Which providers are registered, and why each other one is not.

Resolution happens once, at start-up, with no I/O: for each catalogue entry, the config section
(if any) and the environment decide. Key resolution follows the authentication page: config
``api_key`` -> the provider's conventional env var(s) -> provider skipped.

- A key-based provider is registered when it has a key, from its ``[providers.NAME]`` section or
  from its env var (so exporting ``OPENAI_API_KEY`` is enough). ``enabled = false`` always skips it.
- A provider that needs no key (local servers, the mock) is registered only when the config has a
  ``[providers.NAME]`` section for it.
- A section whose name is not in the catalogue but that sets ``base_url`` is a custom
  OpenAI-compatible provider; without ``base_url`` it is a configuration error.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NoReturn

from ..config import ConfigError, LoadedConfig, ProviderConfig, expand
from ..transports import Timeout, Transport
from .base import Provider, Settings
from .catalogue import ProviderSpec, load_catalogue


@dataclass
class Plan:
    """The outcome of resolution: settings for each registered provider, a reason for the rest."""

    registered: dict[str, Settings] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # Group deployments with their own adapter (own api_key/base_url), keyed "group[i]" (llmg.routing.build).
    deployments: dict[str, Settings] = field(default_factory=dict)


def _first_env(names: list[str], environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    for name in names:
        value = environ.get(name)
        if value:
            return value, name
    return None, None


def _headers(spec: ProviderSpec, section: ProviderConfig | None, environ: Mapping[str, str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, template in spec.headers.items():
        unset: list[str] = []
        value = expand(template, environ, unset)
        if not unset and value:  # optional headers (OpenRouter's X-Title) only when their var is set
            headers[key.lower()] = value
    if section:
        # An empty value (e.g. "${ORG_ID:-}" with ORG_ID unset) means "do not send this header".
        headers.update({k.lower(): v for k, v in section.headers.items() if v})
    return headers


def _custom_spec(name: str) -> ProviderSpec:
    return ProviderSpec(
        name=name,
        display_name=f"{name} (custom OpenAI-compatible)",
        key_required=False,
        capabilities=["chat", "stream", "embeddings"],
        models_endpoint="/models",
        docs="llmg.toml.example",
    )


def plan(loaded: LoadedConfig, environ: Mapping[str, str] | None = None) -> Plan:
    env = os.environ if environ is None else environ
    config = loaded.config
    catalogue = dict(load_catalogue())
    result = Plan()
    for name, custom in config.providers.items():
        if name not in catalogue:
            if custom.base_url is None:
                raise ConfigError(
                    f"{loaded.source}: providers.{name}: unknown provider; set base_url to use it as a "
                    "custom OpenAI-compatible endpoint (see `llmg check-config` for the known names)"
                )
            catalogue[name] = _custom_spec(name)

    server = config.server
    for name, spec in catalogue.items():
        section = config.providers.get(name)
        if section is not None and not section.enabled:
            result.skipped[name] = "disabled in config (enabled = false)"
            continue
        key_source = None
        if section is not None and section.api_key is not None:
            key: str | None = section.api_key
            key_source = f"providers.{name}.api_key"
        else:
            key, key_source = _first_env(spec.env, env)
        if spec.key_required:
            # Also the reason a client gets after "Unknown provider: NAME (not registered: ".
            wanted = " or ".join([*spec.env, f"providers.{name}.api_key"])
            if key is None:
                result.skipped[name] = f"no API key; set {wanted}"
                continue
            if key == "":
                result.skipped[name] = f"empty API key from {key_source}; set {wanted}"
                continue
            if "${" in key and f"providers.{name}.api_key" in loaded.unset_vars:
                result.warnings.append(
                    f"{name}: api_key refers to an unset environment variable and is used as written; "
                    "the provider will reject it"
                )
        elif section is None:
            result.skipped[name] = f"needs no key; add a [providers.{name}] section to enable it"
            continue
        base_url = section.base_url if section and section.base_url else None
        if base_url is None:
            base_url = _first_env(spec.base_url_env, env)[0] or spec.base_url
        if base_url is None and spec.adapter not in ("mock",) and spec.auth != "custom":
            result.skipped[name] = f"no base_url (set providers.{name}.base_url)"
            continue
        timeout = Timeout(
            total=(section.timeout if section and section.timeout else server.upstream_timeout),
            connect=server.connect_timeout,
        )
        settings = Settings(
            name=name,
            spec=spec,
            api_key=key or None,
            base_url=base_url,
            timeout=timeout,
            headers=_headers(spec, section, env),
            models=section.models if section else None,
            params=dict(section.params) if section else {},
        )
        # Required settings the adapter itself knows about (a Vertex credential, a watsonx project,
        # an AWS secret): incomplete means skipped with the reason, like a missing key.
        missing = adapter_class(spec).missing_setting(settings, env)
        if missing is not None:
            result.skipped[name] = missing
            result.warnings.append(f"{name}: not registered: {missing}")
            continue
        _check_adapter(loaded, settings)
        result.registered[name] = settings
    if config.groups:  # routing groups: checked here so that serve and check-config report them
        from ..routing.build import plan_deployments

        result.deployments = plan_deployments(loaded, result, env)
    return result


class _NoTransport:
    """Stands in for the transport while adapters validate their settings at plan time."""

    name = "unopened"

    def __getattr__(self, attr: str) -> NoReturn:
        raise RuntimeError("adapters must not do I/O while they are constructed")


def _check_adapter(loaded: LoadedConfig, settings: Settings) -> None:
    """Build the adapter once, without a transport, so that its own settings checks (params,
    regions, credentials files) fail here, at start-up and in check-config, as a ConfigError
    naming the key, instead of as a traceback from inside a worker."""
    try:
        adapter_class(settings.spec)(settings, _NoTransport())
    except ConfigError as exc:
        message = str(exc)
        raise ConfigError(message if message.startswith(loaded.source) else f"{loaded.source}: {message}") from None


def adapter_class(spec: ProviderSpec) -> type[Provider]:
    module = importlib.import_module(f"llmg.providers.{spec.adapter}")
    adapter: type[Provider] = module.ADAPTER
    return adapter


def instantiate(registered: Mapping[str, Settings], transport: Transport) -> dict[str, Provider]:
    return {name: adapter_class(s.spec)(s, transport) for name, s in registered.items()}
