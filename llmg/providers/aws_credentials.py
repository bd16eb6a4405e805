"""AWS credentials for Bedrock: botocore's credential chain, resolved and refreshed off the loop.

Which credential signs (first found wins):

1. a Bedrock API key: ``params.bearer_token`` or ``$AWS_BEARER_TOKEN_BEDROCK``, sent as
   ``Authorization: Bearer`` with no signature (https://docs.aws.amazon.com/bedrock/latest/
   userguide/api-keys-use.html);
2. static keys: ``providers.bedrock.api_key`` (or ``$AWS_ACCESS_KEY_ID``) with
   ``params.secret_access_key`` (or ``$AWS_SECRET_ACCESS_KEY``) and an optional session token;
   these are signed with the fast signer (``llmg.sigv4``) and never refreshed;
3. botocore's chain: the shared config and credentials files (``params.profile`` or
   ``$AWS_PROFILE``; SSO, assume-role and credential_process profiles included), web identity /
   IRSA (``$AWS_WEB_IDENTITY_TOKEN_FILE``), the ECS/EKS container endpoint and the EC2 instance
   role. Those credentials expire, so they are fetched again before they do.

botocore's fetches are blocking HTTP, so every resolution and refresh runs in a worker thread;
the gateway's one token cache (``TokenCache``) keeps one fetch in flight, refreshes ahead of
expiry and backs off after failures. Requests sign with a ``Signer`` built once per credential.

Credentials can stop working before their stated expiry (a revoked role session, rotated keys):
Bedrock then answers 403 ExpiredTokenException / UnrecognizedClientException /
InvalidSignatureException while the cache still holds them. ``renew`` drops them and resolves the
chain again from a new botocore session (a new credential resolver with an empty cache, so every
source fetches anew; no botocore private API), single-flight through the cache, and the adapter
retries its call once. Static keys (``Credentials``, not ``RefreshableCredentials``) are never renewed.

Whether a chain source is present is judged without network I/O (``chain_hint``), so the
registry can skip an incomplete Bedrock section with the reason when the config is planned.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import GatewayError, ProviderError, redact
from ..sigv4 import Signer
from .token_cache import Token, TokenCache

log = logging.getLogger("llmg.providers.bedrock")

STATIC_LIFETIME = 365 * 86400.0  # credentials without an expiry (a static profile): refreshed yearly
_DMI = Path("/sys/class/dmi/id")
_PROFILE_ENV = ("AWS_DEFAULT_PROFILE", "AWS_PROFILE")  # botocore's names for the profile, first set wins


def _home_file(environ: Mapping[str, str], override: str, name: str) -> Path | None:
    if environ.get(override):
        return Path(environ[override]).expanduser()
    home = environ.get("HOME")
    return Path(home) / ".aws" / name if home else None


def on_ec2(environ: Mapping[str, str]) -> bool:
    """Running on EC2 (an instance role may answer), judged from DMI without asking IMDS."""
    if str(environ.get("AWS_EC2_METADATA_DISABLED", "")).lower() == "true":
        return False
    try:
        vendor = (_DMI / "sys_vendor").read_text(errors="replace").strip()
        tag = (_DMI / "board_asset_tag").read_text(errors="replace").strip()
    except OSError:
        return False
    return vendor.startswith("Amazon") or tag.startswith("i-")


def chain_hint(params: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """Which source of botocore's chain looks present (no network I/O), or None."""
    if params.get("profile") or environ.get("AWS_PROFILE"):
        return "profile"
    if environ.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
        return "web identity"
    if environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        return "container role"
    for override, name in (("AWS_SHARED_CREDENTIALS_FILE", "credentials"), ("AWS_CONFIG_FILE", "config")):
        path = _home_file(environ, override, name)
        if path is not None and path.is_file():
            return "shared config"
    if params.get("credentials") == "chain" or on_ec2(environ):
        return "instance role"
    return None


class ChainCredentials:
    """Signers for credentials from botocore's chain, refreshed in a worker thread."""

    def __init__(self, provider: str, region: str, service: str, profile: str | None) -> None:
        self.provider = provider
        self.region = region
        self.service = service
        self.profile = profile
        self._credentials: Any = None  # botocore Credentials / RefreshableCredentials, found once
        self._issued = 0
        self._frozen: dict[str, Any] = {}  # cache value -> frozen credentials (the last two)
        self._signer: tuple[str, Signer] | None = None
        self.secrets: tuple[str, ...] = ()  # the current secret and token, for scrubbing messages
        self.refreshable = False  # the chain gave expiring credentials (known after the first resolution)
        self._rebuild = False  # the next fetch starts from a new botocore session (see renew)
        self.renewals = 0  # renewals started after Bedrock refused cached credentials (logs and tests)
        # Session credentials live 15 min to 12 h: stop using them a minute before they expire,
        # fetch new ones in the last five minutes (botocore itself refreshes 10-15 min ahead).
        self.cache = TokenCache(self._fetch, name=provider, margin=60.0, refresh_ahead=300.0)

    async def signer(self) -> tuple[str, Signer]:
        """The current credential's cache key (to pass to ``renew``) and its Signer."""
        key = await self.cache.get()
        current = self._signer
        if current is None or current[0] != key:  # one Signer per credential, not per request
            frozen = self._frozen[key]
            current = self._signer = (key, Signer(frozen.access_key, frozen.secret_key, self.region, self.service, frozen.token))
            self.secrets = tuple(s for s in (frozen.access_key, frozen.secret_key, frozen.token) if s)
        return current

    async def renew(self, stale: str, reason: str) -> None:
        """Bedrock refused the credential ``stale`` (a key from ``signer``) before its expiry with
        the error ``reason``: drop it and resolve the chain again. Single-flight: of N requests
        refused with the same credential, the first starts the one resolution (and logs it), the
        others wait for it or find it done."""
        if self.cache.current == stale:
            log.warning("%s: Bedrock refused the cached AWS credentials (%s); resolving them again", self.provider, reason)
            self._rebuild = True
            self.renewals += 1
            self.cache.invalidate(stale)
        await self.cache.get()

    async def aclose(self) -> None:
        await self.cache.aclose()

    def _resolve(self, rebuild: bool = False) -> tuple[Any, datetime | None]:  # in a worker thread: botocore blocks
        if rebuild:
            # botocore's RefreshableCredentials would hand back the refused keys until its own
            # refresh window; a new session's resolver has no cached credentials and fetches anew.
            self._credentials = None
        if self._credentials is None:
            import botocore.session
            from botocore.credentials import RefreshableCredentials

            session = botocore.session.Session(profile=self.profile) if self.profile else botocore.session.Session()
            if not self.profile and session.get_config_variable("profile") == "":
                # AWS_PROFILE="" (docker -e AWS_PROFILE=) means unset, not a profile named "". Not
                # set_config_variable("profile", "default"): an explicit profile must exist in the
                # config file and turns off the env and web identity sources of the chain.
                names = [n for n in _PROFILE_ENV if os.environ.get(n)]
                session = botocore.session.Session(session_vars={"profile": (None, names, None, None)})
            credentials = session.get_credentials()
            if credentials is None:
                raise LookupError("botocore's credential chain found no credentials")
            self._credentials = credentials
            self.refreshable = isinstance(credentials, RefreshableCredentials)
        frozen = self._credentials.get_frozen_credentials()  # refreshes when botocore says it is due
        expiry = getattr(self._credentials, "_expiry_time", None)
        return frozen, expiry

    async def _fetch(self) -> Token:
        try:
            rebuild, self._rebuild = self._rebuild, False
            frozen, expiry = await asyncio.to_thread(self._resolve, rebuild)
        except Exception as exc:  # botocore raises many types (NoCredentialsError, ClientError, ...)
            raise self._failure(exc) from None
        self._issued += 1
        key = f"{frozen.access_key}#{self._issued}"
        self._frozen = {k: v for k, v in self._frozen.items() if self._signer and k == self._signer[0]}
        self._frozen[key] = frozen
        lifetime = STATIC_LIFETIME
        if isinstance(expiry, datetime):
            lifetime = (expiry - datetime.now(UTC)).total_seconds()
        return Token(value=key, expires_in=lifetime)

    def _failure(self, exc: BaseException) -> GatewayError:
        log.warning("%s: AWS credentials unavailable (%s): %s", self.provider, type(exc).__name__,
                    redact(str(exc)[:300], self.secrets))
        return ProviderError(f"{self.provider}: AWS credentials are unavailable (see the gateway log)", code="provider_misconfigured")
