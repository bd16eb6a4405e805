"""Google Cloud credentials for Vertex AI: google-auth's standard chain, refreshed off the loop.

Where the credential comes from, first found wins (the order of google-auth's own
``google.auth.default``, which Google's client libraries and ``gcloud`` follow):

1. ``providers.vertex_ai.params.credentials_file``;
2. ``$GOOGLE_APPLICATION_CREDENTIALS``;
3. the gcloud user credentials ``gcloud auth application-default login`` writes
   (``$CLOUDSDK_CONFIG/application_default_credentials.json``, default ``~/.config/gcloud``);
4. the metadata server of GCE, GKE (workload identity) and Cloud Run, when the gateway runs on
   Google Cloud (``$GCE_METADATA_HOST``, ``$K_SERVICE``, or a Google DMI product name) or
   ``params.credentials = "metadata"`` says so.

A file may be any type google-auth loads: ``service_account``, ``authorized_user``,
``external_account`` (workload identity federation: a subject token traded at STS, optionally
for an impersonated service account) or ``impersonated_service_account``.

Finding the source does no network I/O, so the registry can check it when the config is planned
(``find_source``). Refreshing does: google-auth's HTTP is blocking, so every refresh runs in a
worker thread (``asyncio.to_thread``) and the event loop never waits on it. The gateway's one
token cache (``token_cache.TokenCache``) decides when to refresh: one refresh in flight, refresh
ahead of expiry, backoff after failures.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import GatewayError, ProviderError, from_upstream, redact
from .token_cache import Token, TokenCache

log = logging.getLogger("llmg.providers.vertex_ai")

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
REFRESH_TIMEOUT = 15.0  # seconds per HTTP call google-auth makes in one refresh
_DMI_PRODUCT = Path("/sys/class/dmi/id/product_name")


class CredentialsError(Exception):
    """The credential cannot be used; the message is safe to show (no key material)."""


@dataclass(frozen=True, slots=True)
class Source:
    kind: str  # "file" or "metadata"
    origin: str  # where it was found, for messages: "$GOOGLE_APPLICATION_CREDENTIALS", ...
    path: str | None = None


def gcloud_adc_path(environ: Mapping[str, str]) -> Path | None:
    config = environ.get("CLOUDSDK_CONFIG")
    if config:
        return Path(config) / "application_default_credentials.json"
    home = environ.get("HOME")
    return Path(home) / ".config" / "gcloud" / "application_default_credentials.json" if home else None


def on_google_cloud(environ: Mapping[str, str]) -> bool:
    """Running where a metadata server answers, judged without asking it (no network)."""
    if environ.get("GCE_METADATA_HOST") or environ.get("GCE_METADATA_IP") or environ.get("K_SERVICE"):
        return True
    try:
        return _DMI_PRODUCT.read_text(encoding="ascii", errors="replace").strip().startswith("Google")
    except OSError:
        return False


def find_source(params: Mapping[str, Any], environ: Mapping[str, str], provider: str) -> Source | None:
    """The first credential source of the chain that is present, or None. No network I/O."""
    path = params.get("credentials_file")
    if path:
        return Source("file", f"providers.{provider}.params.credentials_file", str(path))
    path = environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if path:
        return Source("file", "$GOOGLE_APPLICATION_CREDENTIALS", path)
    wanted = params.get("credentials")
    if wanted == "metadata":
        return Source("metadata", f"providers.{provider}.params.credentials")
    adc = gcloud_adc_path(environ)
    if adc is not None and adc.is_file():
        return Source("file", "gcloud application-default credentials", str(adc))
    if on_google_cloud(environ):
        return Source("metadata", "the metadata server")
    return None


def _check_info(info: Mapping[str, Any]) -> None:
    """Clear messages for the commonest broken key files (google-auth's own are less specific)."""
    kind = info.get("type")
    if kind == "service_account":
        missing = [k for k in ("client_email", "private_key") if not info.get(k)]
        if missing:
            raise CredentialsError(f"service-account key file lacks {', '.join(missing)}")
        from cryptography.hazmat.primitives import serialization

        try:
            serialization.load_pem_private_key(str(info["private_key"]).encode(), password=None)
        except (ValueError, TypeError):
            raise CredentialsError("service-account private_key is not a usable PEM RSA key") from None
    elif kind == "authorized_user":
        missing = [k for k in ("client_id", "client_secret", "refresh_token") if not info.get(k)]
        if missing:
            raise CredentialsError(f"authorized_user credentials lack {', '.join(missing)}")


def secrets_of(info: Mapping[str, Any]) -> tuple[str, ...]:
    """Values from a credentials file that log lines are scrubbed of."""
    return tuple(str(info[k]) for k in ("client_secret", "refresh_token", "private_key") if info.get(k))


def _from_info(info: dict[str, Any]) -> Any:
    """The credentials object for one file's JSON, built without network I/O.

    Not ``google.auth.load_credentials_from_dict`` for external_account files: it asks Cloud
    Resource Manager for the project while loading, a blocking call at plan time.
    """
    import google.auth

    scopes = list(SCOPES)
    kind = info.get("type")
    if kind == "service_account":
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_info(info, scopes=scopes)
    if kind == "authorized_user":
        from google.oauth2 import credentials as user

        return user.Credentials.from_authorized_user_info(info, scopes=scopes)
    if kind == "external_account":
        source = info.get("credential_source") or {}
        if str(source.get("environment_id", "")).startswith("aws"):
            from google.auth import aws

            return aws.Credentials.from_info(info, scopes=scopes)
        if source.get("executable"):
            from google.auth import pluggable

            return pluggable.Credentials.from_info(info, scopes=scopes)
        from google.auth import identity_pool

        return identity_pool.Credentials.from_info(info, scopes=scopes)
    credentials, _ = google.auth.load_credentials_from_dict(info, scopes=scopes)  # impersonated and the rest
    return credentials


def load(source: Source, info: Mapping[str, Any] | None, token_url: str | None = None) -> Any:
    """google-auth credentials for ``source`` (``info``: the file's parsed JSON), scoped for Vertex.

    ``token_url`` (``params.token_url``) replaces the OAuth token endpoint of service-account and
    user credentials: a private endpoint, or a test's fake. google-auth itself always sends user
    credentials to Google's endpoint, whatever the file says, so only the config can move it.
    """
    from google.auth import exceptions

    if source.kind == "metadata":
        from google.auth import compute_engine

        return compute_engine.Credentials(scopes=list(SCOPES))
    assert info is not None
    _check_info(info)
    try:
        credentials = _from_info(dict(info))
    except (exceptions.DefaultCredentialsError, ValueError, KeyError, TypeError) as exc:
        # google-auth's messages name the type or field that is wrong, never a key's value.
        raise CredentialsError(f"google-auth cannot use it ({type(exc).__name__}: {str(exc)[:200]})") from None
    if token_url and hasattr(credentials, "with_token_uri"):
        credentials = credentials.with_token_uri(token_url)
    return credentials


class GoogleTokens:
    """Access tokens from google-auth credentials, cached by the one token cache.

    ``credentials.refresh`` does blocking HTTP (token endpoint, STS, metadata server), so it runs
    in a worker thread; the cache keeps exactly one refresh in flight, so the credentials object
    is never touched by two threads at once.
    """

    def __init__(self, credentials: Any, provider: str, secrets: tuple[str, ...] = ()) -> None:
        import urllib3
        from google.auth.transport.urllib3 import Request

        self.credentials = credentials
        self.provider = provider
        self.secrets = secrets
        # One pool for the adapter's life: no per-refresh client construction.
        self._request = Request(urllib3.PoolManager(timeout=urllib3.Timeout(total=REFRESH_TIMEOUT), retries=False))
        # Google tokens live an hour: stop using one 10 s before expiry, refresh it in the last 5 min.
        self.cache = TokenCache(self._exchange, name=provider, margin=10.0, refresh_ahead=300.0)

    @property
    def exchanges(self) -> int:
        return self.cache.exchanges

    async def token(self) -> str:
        return await self.cache.get()

    async def aclose(self) -> None:
        await self.cache.aclose()

    def _refresh(self) -> tuple[str, datetime | None]:  # in a worker thread
        self.credentials.refresh(self._request)
        return self.credentials.token, self.credentials.expiry

    async def _exchange(self) -> Token:
        from google.auth import exceptions

        try:
            token, expiry = await asyncio.to_thread(self._refresh)
        except exceptions.RefreshError as exc:
            raise self._failure(exc, retryable=bool(getattr(exc, "retryable", False))) from None
        except exceptions.TransportError as exc:  # unreachable token endpoint or metadata server
            raise self._failure(exc, retryable=True) from None
        except exceptions.GoogleAuthError as exc:
            raise self._failure(exc, retryable=False) from None
        if not isinstance(token, str) or not token:
            raise ProviderError(f"{self.provider}: the credential refresh returned no access token", code="upstream_error")
        lifetime = 3600.0
        if expiry is not None:  # google-auth keeps naive UTC datetimes
            lifetime = (expiry - datetime.now(UTC).replace(tzinfo=None)).total_seconds()
        return Token(value=token, expires_in=lifetime)

    def _failure(self, exc: BaseException, *, retryable: bool) -> GatewayError:
        # The token endpoint's words go to the log (scrubbed); the client only learns that the
        # provider refused our credentials (401) or could not be reached (502).
        log.warning("%s: credential refresh failed (%s): %s", self.provider, type(exc).__name__,
                    redact(str(exc)[:300], self.secrets))
        if retryable:
            return ProviderError(f"{self.provider}: the credential refresh failed; try again", code="upstream_error")
        return from_upstream(401, b"", {}, provider=self.provider, secrets=self.secrets)


def project_of(info: Mapping[str, Any] | None) -> str | None:
    if not info:
        return None
    value = info.get("project_id")
    return str(value) if value else None
