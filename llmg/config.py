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
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]


class AuthConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Gateway auth (layer 1): who may call the gateway."""

    enabled: bool = True
    keys: list[str] = []

    def __repr__(self) -> str:  # hardening: never show a key (reprs reach tracebacks and logs)
        return f"AuthConfig(enabled={self.enabled}, keys=[{len(self.keys)} hidden])"


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
    # Upstream HTTP client; "h1" (our in-loop HTTP/1.1 client) measured faster than "hybrid"
    # (pyreqwest + aiohttp) for complete answers and streams (benchmarks/README.md, round three).
    # The others stay selectable.
    transport: Literal["aiohttp", "httpx", "httpx-aiohttp", "pyreqwest", "hybrid", "h1"] = "h1"
    access_log: bool = False
    # --- upstream bounds (transports/gate.py, transports/base.py) ---
    # Upstream exchanges in progress per worker (a stream counts until it ends); past it: 503.
    max_in_flight: Annotated[int, msgspec.Meta(ge=1)] = 1024
    # Longest wait for a free pooled upstream connection; then 503.
    pool_timeout: Seconds = 10.0
    # Largest complete upstream answer, and largest upstream error body; over either: 502.
    max_upstream_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 32 * 1024 * 1024
    max_upstream_error_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 64 * 1024
    # --- end upstream bounds ---
    # Origins allowed to call the gateway from a browser (CORS); ["*"] for any; [] turns CORS off.
    cors_origins: list[str] = []
    # --- hardening: DNS rebinding (llmg/hosts.py) ---
    # Extra Host names served besides localhost, 127.0.0.1 and [::1] (any port). On a loopback
    # bind other Hosts get 403; on other binds the check applies only when this is set.
    allowed_hosts: list[str] = []
    # --- end hardening ---
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
    # --- observe: the access line's format (LLMG_LOG_FORMAT wins); bodies only when asked ---
    format: Literal["text", "json"] = "text"
    log_bodies: bool = False  # json access lines carry the request and answer bodies (prompts!)
    # --- end observe ---


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
    # Upstream exchanges in progress to this provider per worker (None: only server.max_in_flight).
    max_in_flight: Annotated[int, msgspec.Meta(ge=1)] | None = None

    def __repr__(self) -> str:  # hardening: key, header and param values and URL secrets hidden
        from .hygiene import names_only, redact_url, shown

        return (f"ProviderConfig(enabled={self.enabled}, api_key={shown(self.api_key)}, base_url={redact_url(self.base_url)!r}, "
                f"timeout={self.timeout}, headers={names_only(self.headers)}, models={self.models!r}, params={names_only(self.params)})")


# --- routing: [router] defaults and [groups.NAME] (llmg/routing/) ------------------------------

RetryClass = Literal["connect", "timeout", "429", "5xx"]
FallbackReason = Literal["context_window", "content_policy"]


class CooldownConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Circuit breaker per deployment: `failures` within `window_s` -> skipped for `cooldown_s`."""

    failures: Annotated[int, msgspec.Meta(ge=1)] = 3
    window_s: Seconds = 30.0
    cooldown_s: Seconds = 30.0


class RouterConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    retry_on: list[RetryClass] = msgspec.field(default_factory=lambda: ["connect", "timeout", "429", "5xx"])
    # Attempts per request within one group (each fallback group has its own budget).
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=20)] = 3
    backoff_base_ms: Annotated[float, msgspec.Meta(ge=0)] = 100.0
    backoff_max_ms: Annotated[float, msgspec.Meta(ge=0)] = 5000.0
    # Total budget for every attempt of one request, fallbacks included.
    deadline_s: Seconds = 120.0
    cooldown: CooldownConfig = msgspec.field(default_factory=CooldownConfig)
    default_fallbacks: list[str] = []
    # Upstream 400s that send the request to the fallbacks instead of back to the client.
    fallback_on: list[FallbackReason] = msgspec.field(default_factory=lambda: ["context_window", "content_policy"])
    # Share of requests the latency strategy sends to a random deployment, so a recovered
    # (or never measured) deployment gets measured again.
    latency_exploration: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.1


class DeploymentConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    model: str  # "provider/model"
    name: str | None = None  # shown in x-llmg-deployment; default the model
    api_key: str | None = None  # own key -> own adapter instance
    base_url: str | None = None
    weight: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    timeout_s: Seconds | None = None  # total per attempt
    ttft_timeout_s: Seconds | None = None  # time to first byte of a stream
    connect_timeout_s: Seconds | None = None
    idle_timeout_s: Seconds | None = None  # longest silence between stream chunks
    max_in_flight: Annotated[int, msgspec.Meta(ge=1)] | None = None

    def __repr__(self) -> str:  # a deployment's own api_key must never reach a log line through repr()
        from .hygiene import redact_url, shown

        return (f"DeploymentConfig(model={self.model!r}, name={self.name!r}, api_key={shown(self.api_key)}, "
                f"base_url={redact_url(self.base_url)!r}, weight={self.weight})")


class GroupConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    strategy: Literal["weighted", "round-robin", "least-busy", "latency"] = "weighted"
    deployments: Annotated[list[DeploymentConfig], msgspec.Meta(min_length=1)]
    fallbacks: list[str] | None = None  # None -> router.default_fallbacks
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=20)] | None = None  # None -> router.max_attempts


# --- end routing ---------------------------------------------------------------------------------
# --- [keys.NAME] and [limits]: named gateway keys and their limits (llmg/keys.py, llmg/limits/) ---

Count = Annotated[int, msgspec.Meta(ge=0)]


class KeyConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One named gateway key. The table name is what logs and GET /v1/key show, never the key."""

    key: str | None = None  # the key itself (usually "${VAR}")...
    key_sha256: str | None = None  # ...or its SHA-256 as 64 hex digits, so the file holds no secret
    models: list[str] = msgspec.field(default_factory=lambda: ["*"])  # globs over the model string the client sends (and its alias target)
    rpm: Count = 0  # requests per minute; 0 = no limit
    tpm: Count = 0  # tokens per minute (prompt + completion); 0 = no limit
    max_parallel: Count = 0  # requests in flight at once; 0 = no limit
    expires: datetime | None = None  # RFC 3339 with a zone; from then on the key gets 401 "key expired"
    # --- observe: spend limit in USD per calendar period (UTC), on the [limits] backend; 0 = none ---
    budget_usd: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    budget_period: Literal["day", "month"] = "month"

    def __repr__(self) -> str:  # a key must never reach a log line through repr()
        return f"KeyConfig(models={self.models!r}, rpm={self.rpm}, tpm={self.tpm}, max_parallel={self.max_parallel})"


class LimitsConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Where limit counters live: "memory" is one process (one worker); "redis" is shared by every
    worker and instance that points at the same Redis."""

    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Prefix of every Redis key, so several gateways (or tests) can share one Redis.
    redis_prefix: str = "llmg"
    # Each Redis call is bounded by this; past it the backend counts as down.
    redis_timeout: Seconds = 0.5
    # Backend down: "open" serves without limits (and warns), "closed" answers 503.
    on_backend_error: Literal["open", "closed"] = "open"
    # Requests per minute across all keys (named, plain or any token); 0 = none.
    global_rpm: Count = 0

    def __repr__(self) -> str:  # redis_url may carry a password
        return f"LimitsConfig(backend={self.backend!r}, on_backend_error={self.on_backend_error!r}, global_rpm={self.global_rpm})"


# --- observe: [metrics], [pricing."provider/model"], [tracing] (llmg/observe/) ---------------------

USD = Annotated[float, msgspec.Meta(ge=0)]


class MetricsConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """GET /metrics (Prometheus). Off by default. With `key`, scrapers send `Bearer <key>` and
    gateway keys are not accepted there; without it, /metrics takes any gateway key."""

    enabled: bool = False
    key: str | None = None
    path: str = "/metrics"

    def __repr__(self) -> str:
        return f"MetricsConfig(enabled={self.enabled}, key={'set' if self.key else None}, path={self.path!r})"


class PriceConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """USD per million tokens; overrides llmg/pricing.toml for one "provider/model"."""

    input: USD
    output: USD
    cached: USD | None = None  # cached prompt tokens; None: charged as input


class TracingConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """OpenTelemetry traces (`pip install llmg[tracing]`); off by default."""

    enabled: bool = False
    # OTLP/HTTP traces endpoint; "" keeps spans in memory only (tests) or uses OTEL_EXPORTER_OTLP_* env.
    otlp_endpoint: str = ""
    service_name: str = "llmg"


# --- end observe ---------------------------------------------------------------------------------


# --- [responses]: the store behind previous_response_id and GET/DELETE /v1/responses/{id} ---
class ResponsesConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Where stored responses live follows ``[limits] backend``: each worker's memory, or the shared
    Redis (same redis_url / redis_prefix / redis_timeout) so every worker and instance sees them."""

    # How long a stored response can be chained from or retrieved.
    store_ttl_s: Seconds = 3600.0
    # Memory backend only: the newest this many are kept per worker (Redis bounds by TTL and size).
    store_max_items: Annotated[int, msgspec.Meta(ge=1)] = 1000
    # Largest stored entry (answer, input items and the whole conversation, encoded); bigger is not stored.
    store_max_entry_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 4 * 1024 * 1024


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    providers: dict[str, ProviderConfig] = {}
    aliases: dict[str, str] = {}
    router: RouterConfig = msgspec.field(default_factory=RouterConfig)
    groups: dict[str, GroupConfig] = {}
    keys: dict[str, KeyConfig] = {}
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    # --- observe ---
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    pricing: dict[str, PriceConfig] = {}
    tracing: TracingConfig = msgspec.field(default_factory=TracingConfig)
    # --- end observe ---
    responses: ResponsesConfig = msgspec.field(default_factory=ResponsesConfig)


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


def _convert_sections(tree: Any, key: str, struct: type[Any], source: str) -> dict[str, Any]:
    """Convert the tables under ``key`` one by one, so that an error names the section."""
    sections = tree.pop(key, {}) if isinstance(tree, dict) else {}
    if not isinstance(sections, dict):
        raise ConfigError(f"{source}: {key}: Expected `table`, got `{type(sections).__name__}`")
    result: dict[str, Any] = {}
    for name, section in sections.items():
        try:
            result[name] = msgspec.convert(section, struct)
        except msgspec.ValidationError as exc:
            explained = _explain(exc)
            sep = ": " if explained.startswith(("Object", "Expected")) else "."
            raise ConfigError(f"{source}: {key}.{name}{sep}{explained}") from None
    return result


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
    groups = _convert_sections(expanded, "groups", GroupConfig, source)
    keys = _convert_keys(expanded.pop("keys", {}) if isinstance(expanded, dict) else {}, source)
    try:
        config = msgspec.convert(expanded, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_explain(exc)}") from None
    config.providers = providers
    config.groups = groups
    config.keys = keys
    loaded = LoadedConfig(config, source, unset_vars=unset)
    _check(loaded)
    return loaded


_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def _convert_keys(sections: Any, source: str) -> dict[str, KeyConfig]:
    """[keys.NAME] tables, one by one so that an error names the key (never its value)."""
    if not isinstance(sections, dict):
        raise ConfigError(f"{source}: keys: Expected `table`, got `{type(sections).__name__}`")
    keys: dict[str, KeyConfig] = {}
    for name, section in sections.items():
        where = f"{source}: keys.{name}"
        try:
            # TOML gives an unquoted date-time as a datetime, a quoted one as a string: take both.
            key = msgspec.convert(section, KeyConfig, strict=False)
        except msgspec.ValidationError as exc:
            explained = _explain(exc)
            sep = ": " if explained.startswith(("Object", "Expected")) else "."
            raise ConfigError(f"{where}{sep}{explained}") from None
        if (key.key is None) == (key.key_sha256 is None):
            raise ConfigError(f"{where}: set exactly one of `key` and `key_sha256`")
        if key.key_sha256 is not None and not _HEX64.fullmatch(key.key_sha256):
            raise ConfigError(f"{where}.key_sha256: must be 64 hexadecimal digits (a SHA-256 digest)")
        if key.expires is not None and key.expires.tzinfo is None:
            raise ConfigError(f"{where}.expires: needs a time zone, e.g. 2027-06-30T00:00:00Z")
        if not key.models or any(not isinstance(m, str) or not m for m in key.models):
            raise ConfigError(f"{where}.models: needs at least one non-empty glob")
        keys[name] = key
    return keys


def _check(loaded: LoadedConfig) -> None:
    config = loaded.config
    for alias, target in config.aliases.items():
        provider, _, model = target.partition("/")
        if not provider or not model:
            raise ConfigError(f"{loaded.source}: aliases.{alias}: target {target!r} must be 'provider/model'")
    for name, section in config.providers.items():
        if section.base_url is not None and not section.base_url.startswith(("http://", "https://")):
            if "${" not in section.base_url:
                raise ConfigError(
                    f"{loaded.source}: providers.{name}.base_url: must start with http:// or https://"
                )
    _check_groups(loaded)
    for path, names in loaded.unset_vars.items():
        # Name the variable, never a value: the surrounding text may be a secret.
        loaded.warnings.append(
            f"{path}: environment variable {', '.join(sorted(set(names)))} is not set; "
            "the value is used as written"
        )


def _check_groups(loaded: LoadedConfig) -> None:
    """Group names, deployment models and fallback targets; providers are checked by the registry."""
    config, src = loaded.config, loaded.source

    def target_ok(target: str) -> bool:
        provider, _, model = target.partition("/")
        return target in config.groups or bool(provider and model)

    for i, target in enumerate(config.router.default_fallbacks):
        if not target_ok(target):
            raise ConfigError(f"{src}: router.default_fallbacks[{i}]: {target!r} is neither a group nor 'provider/model'")
    for name, group in config.groups.items():
        where = f"{src}: groups.{name}"
        if name in config.aliases:
            raise ConfigError(f"{where}: the name is also an alias; a model name must mean one thing")
        if not name or "/" in name or not name.isprintable() or " " in name:
            raise ConfigError(f"{where}: a group name may not be empty or contain '/', spaces or control characters")
        labels: set[str] = set()
        for i, dep in enumerate(group.deployments):
            provider, _, model = dep.model.partition("/")
            if not provider or not model:
                raise ConfigError(f"{where}.deployments[{i}].model: {dep.model!r} must be 'provider/model'")
            if dep.base_url is not None and not dep.base_url.startswith(("http://", "https://")):
                raise ConfigError(f"{where}.deployments[{i}].base_url: must start with http:// or https://")
            label = dep.name or dep.model
            if not (label.isascii() and label.isprintable()):
                # The label goes out in the x-llmg-deployment header.
                raise ConfigError(f"{where}.deployments[{i}]: the name must be printable ASCII")
            if label in labels:
                raise ConfigError(
                    f"{where}.deployments[{i}]: {label!r} names two deployments; give each its own `name`"
                )
            labels.add(label)
        for i, target in enumerate(group.fallbacks or ()):
            if target == name:
                raise ConfigError(f"{where}.fallbacks[{i}]: a group cannot fall back to itself")
            if not target_ok(target):
                raise ConfigError(f"{where}.fallbacks[{i}]: {target!r} is neither a group nor 'provider/model'")


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
