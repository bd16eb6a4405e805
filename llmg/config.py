"""``llmg.toml`` -> typed, validated configuration.

Everything about configuration lives here: the schema (msgspec Structs, unknown keys rejected),
discovery (``--config`` -> ``$LLMG_CONFIG`` -> ``./llmg.toml`` -> built-in default), and ``${VAR}``
expansion. Expansion follows the authentication page: it runs once at start-up over every string
value, and an unset variable leaves the text as it is (``${VAR:-default}`` gives a fallback).
A config that does not validate stops the gateway with the key path and the reason; nothing
silently falls back to defaults.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the design card allows tomli on older interpreters
    import tomli as tomllib

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]


class AuthConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Gateway auth (layer 1): who may call the gateway."""

    enabled: bool = True
    keys: list[str] = []


class ServerConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    host: str = "127.0.0.1"
    port: Port = 8080
    workers: Annotated[int, msgspec.Meta(ge=1, le=256)] = 1
    # Largest request body accepted; larger ones get 413 before the body is read.
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 16 * 1024 * 1024
    # Time a client has to send its whole request.
    request_timeout: Seconds = 60.0
    keep_alive_timeout: Seconds = 15.0
    # Default upstream limits; a provider's own `timeout` overrides `upstream_timeout`.
    upstream_timeout: Seconds = 600.0
    connect_timeout: Seconds = 10.0
    # Upstream connections kept per worker.
    pool_size: Annotated[int, msgspec.Meta(ge=1)] = 512
    # Pending-connection queue of the listening socket. Sanic's default (100) overflows under a
    # burst of a few hundred new clients; the kernel caps it at net.core.somaxconn anyway.
    backlog: Annotated[int, msgspec.Meta(ge=1)] = 1024
    # Upstream HTTP client; "hybrid" (pyreqwest for complete answers, aiohttp for streams) won the
    # bake-off in benchmarks/results. "httpx" stays selectable.
    transport: Literal["aiohttp", "httpx", "httpx-aiohttp", "pyreqwest", "hybrid"] = "hybrid"
    access_log: bool = False
    # Origins allowed to call the gateway from a browser (CORS); ["*"] for any; [] turns CORS off.
    cors_origins: list[str] = []
    auth: AuthConfig = msgspec.field(default_factory=AuthConfig)
    # --- lifecycle (llmg/lifecycle.py): drain, reload, debug counters ---
    # On SIGTERM/Ctrl-C, in-flight requests and streams get this long to finish; streams still
    # open then end with an error event + [DONE].
    drain_timeout: Seconds = 30.0
    # Where `llmg serve` writes its pid, for `llmg reload` (SIGHUP). "": no pid file.
    pid_file: str = ""
    # GET /debug/stats (auth required): open fds, asyncio tasks, active streams of the worker.
    # For tests and soak runs; off in production.
    debug_stats: bool = False


class LoggingConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    level: Literal["debug", "info", "warning", "error"] = "info"


class ProviderConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    api_key: str | None = None
    base_url: str | None = None
    timeout: Seconds | None = None
    # Extra headers sent upstream on every request to this provider.
    headers: dict[str, str] = {}
    # Model ids listed by /v1/models for this provider (overrides the catalogue's list).
    models: list[str] | None = None
    # Adapter-specific settings (Azure api_version and deployments, Vertex project, AWS region...).
    params: dict[str, Any] = {}


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    providers: dict[str, ProviderConfig] = {}
    aliases: dict[str, str] = {}


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key path and the reason."""


@dataclass
class LoadedConfig:
    config: Config
    source: str  # the file it came from, or "built-in default"
    warnings: list[str] = field(default_factory=list)
    # ${VAR} references that stayed unexpanded, by the key path they were found at.
    unset_vars: dict[str, list[str]] = field(default_factory=dict)


# The embedded default: the offline mock provider, so a fresh machine answers with no keys at all.
DEFAULT_TOML = """
[server]
host = "127.0.0.1"
port = 8080

[providers.mock]
enabled = true
"""

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(value: str, environ: Mapping[str, str], unset: list[str]) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}``; an unset VAR without default stays as written."""

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        unset.append(name)
        return match.group(0)

    return _VAR.sub(substitute, value)


def _expand_tree(node: Any, environ: Mapping[str, str], path: str, unset: dict[str, list[str]]) -> Any:
    if isinstance(node, str):
        names: list[str] = []
        result = expand(node, environ, names)
        if names:
            unset[path] = names
        return result
    if isinstance(node, dict):
        return {k: _expand_tree(v, environ, f"{path}.{k}" if path else k, unset) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_tree(v, environ, f"{path}[{i}]", unset) for i, v in enumerate(node)]
    return node


_AT = re.compile(r"^(.*?)(?: - at `\$(.*)`)?$", re.S)


def _explain(error: msgspec.ValidationError) -> str:
    """Turn msgspec's "reason - at `$.a.b`" into "a.b: reason"."""
    match = _AT.match(str(error))
    assert match is not None
    reason, where = match.group(1), (match.group(2) or "").lstrip(".")
    return f"{where}: {reason}" if where else reason


def parse(text: str, source: str, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    env = os.environ if environ is None else environ
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    unset: dict[str, list[str]] = {}
    expanded = _expand_tree(raw, env, "", unset)
    # Provider sections are checked one by one: msgspec names a dict key "[...]" in its error
    # paths, and the user needs to know which provider section is wrong.
    sections = expanded.pop("providers", {}) if isinstance(expanded, dict) else {}
    if not isinstance(sections, dict):
        raise ConfigError(f"{source}: providers: Expected `table`, got `{type(sections).__name__}`")
    providers: dict[str, ProviderConfig] = {}
    for name, section in sections.items():
        try:
            providers[name] = msgspec.convert(section, ProviderConfig)
        except msgspec.ValidationError as exc:
            explained = _explain(exc)
            where = f"providers.{name}" if explained.startswith(("Object", "Expected")) else f"providers.{name}."
            raise ConfigError(f"{source}: {where}{'' if where.endswith('.') else ': '}{explained}") from None
    try:
        config = msgspec.convert(expanded, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_explain(exc)}") from None
    config.providers = providers
    loaded = LoadedConfig(config, source, unset_vars=unset)
    _check(loaded)
    return loaded


def _check(loaded: LoadedConfig) -> None:
    config = loaded.config
    for alias, target in config.aliases.items():
        provider, _, model = target.partition("/")
        if not provider or not model:
            raise ConfigError(f"{loaded.source}: aliases.{alias}: target {target!r} must be 'provider/model'")
    for name, provider in config.providers.items():
        if provider.base_url is not None and not provider.base_url.startswith(("http://", "https://")):
            if "${" not in provider.base_url:
                raise ConfigError(
                    f"{loaded.source}: providers.{name}.base_url: must start with http:// or https://"
                )
    for path, names in loaded.unset_vars.items():
        # Name the variable, never a value: the surrounding text may be a secret.
        loaded.warnings.append(
            f"{path}: environment variable {', '.join(sorted(set(names)))} is not set; "
            "the value is used as written"
        )


def discover(explicit: str | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """--config, then $LLMG_CONFIG, then ./llmg.toml; None means the built-in default."""
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if env.get("LLMG_CONFIG"):
        return Path(env["LLMG_CONFIG"])
    local = Path("llmg.toml")
    return local if local.is_file() else None


def load(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    path = discover(explicit, environ)
    if path is None:
        return parse(DEFAULT_TOML, "built-in default", environ)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config is not UTF-8 text") from None
    return parse(text, str(path), environ)
