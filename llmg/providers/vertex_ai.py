"""Google Vertex AI: the Gemini wire format on the regional endpoint, with an OAuth access token.

Endpoint (https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference and
.../learn/locations for the global and multi-region hosts):
  POST https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}
       /publishers/google/models/{model}:generateContent | :streamGenerateContent?alt=sse | :predict
  (location "global" -> host aiplatform.googleapis.com; "us"/"eu" -> aiplatform.{us,eu}.rep.googleapis.com)
with ``Authorization: Bearer <access token>``. The token comes from the service-account JSON
(https://developers.google.com/identity/protocols/oauth2/service-account#httprest): an RS256-signed
JWT assertion exchanged at the key file's ``token_uri``. ``authorized_user`` files (what
``gcloud auth application-default login`` writes) use the refresh-token grant at the same place.

Settings: ``params.credentials_file`` or $GOOGLE_APPLICATION_CREDENTIALS; ``params.project`` or the
key file's project_id or $GOOGLE_CLOUD_PROJECT; ``params.location`` or $GOOGLE_CLOUD_LOCATION or
us-central1. ``base_url`` (tests, private endpoints) replaces the scheme+host.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import msgspec

from ..config import ConfigError
from ..errors import GatewayError, InvalidRequest, ProviderError, from_upstream, printable, redact
from ..transports import Timeout, Transport
from . import gemini_map as gm
from .base import Call, Provider, Reply, Settings
from .gemini import GeminiProvider
from .token_cache import Token, TokenCache

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode
log = logging.getLogger("llmg.providers.vertex_ai")

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
DEFAULT_LOCATION = "us-central1"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")  # project ids and locations: no room for URL tricks
_JWT_LIFETIME = 3600  # the longest Google accepts for an assertion
_FORM = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class CredentialsError(Exception):
    """The key file cannot be used; the message is safe to show (no key material)."""


class TokenSource:
    """Access tokens for one key file: minted on demand and cached by the gateway's one token cache
    (``token_cache.TokenCache``: one shared exchange in flight, its own timeout, refresh ahead of
    expiry, backoff after failures). This class only knows how to make the exchange.
    """

    def __init__(self, info: dict[str, Any], transport: Transport, provider: str, timeout: Timeout) -> None:
        self.kind = info.get("type", "service_account")
        self.token_uri = info.get("token_uri") or DEFAULT_TOKEN_URI
        self.transport = transport
        self.provider = provider
        self.timeout = timeout
        self.secrets: tuple[str, ...] = ()  # what a token endpoint's error text is scrubbed of
        # Google tokens live an hour: stop using one 10 s before expiry, refresh it in the last 5 min.
        self.cache = TokenCache(self._exchange, name=provider, margin=10.0, refresh_ahead=300.0)
        if self.kind == "service_account":
            missing = [k for k in ("client_email", "private_key") if not info.get(k)]
            if missing:
                raise CredentialsError(f"service-account key file lacks {', '.join(missing)}")
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

            try:
                key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
            except (ValueError, TypeError):
                key = None
            # RS256 needs an RSA key: an EC or Ed25519 PEM loads fine but could not sign the JWT.
            if not isinstance(key, RSAPrivateKey):
                raise CredentialsError("service-account private_key is not a usable PEM RSA key")
            self._key = key
            self._email = info["client_email"]
            header = {"alg": "RS256", "typ": "JWT"}
            if info.get("private_key_id"):
                header["kid"] = info["private_key_id"]
            self._jwt_header = _b64url(_encode(header))
        elif self.kind == "authorized_user":
            missing = [k for k in ("client_id", "client_secret", "refresh_token") if not info.get(k)]
            if missing:
                raise CredentialsError(f"authorized_user credentials lack {', '.join(missing)}")
            self.secrets = (info["client_secret"], info["refresh_token"])
            self._refresh_form = urlencode({
                "grant_type": "refresh_token", "client_id": info["client_id"],
                "client_secret": info["client_secret"], "refresh_token": info["refresh_token"],
            }).encode()
        else:
            raise CredentialsError(f"credentials of type {self.kind!r} are not supported (service_account, authorized_user)")

    def assertion(self, now: int) -> bytes:
        """The signed JWT (RS256) a service account trades for an access token."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        claims = {"iss": self._email, "scope": SCOPE, "aud": self.token_uri, "iat": now, "exp": now + _JWT_LIFETIME}
        signing_input = self._jwt_header + b"." + _b64url(_encode(claims))
        signature = self._key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signing_input + b"." + _b64url(signature)

    @property
    def exchanges(self) -> int:
        return self.cache.exchanges

    async def token(self) -> str:
        return await self.cache.get()

    async def aclose(self) -> None:
        """Stop an exchange still in flight (server shutdown)."""
        await self.cache.aclose()

    async def _exchange(self) -> Token:
        if self.kind == "service_account":
            form = urlencode({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"}).encode()
            form += b"&assertion=" + self.assertion(int(time.time()))
        else:
            form = self._refresh_form
        resp = await self.transport.request(
            "POST", self.token_uri, headers=_FORM, body=form, timeout=self.timeout, provider=self.provider
        )
        if resp.status != 200:
            # The token endpoint says why ({"error": "invalid_grant", "error_description": ...});
            # the client only needs to know the provider refused our credentials.
            log.warning("%s: token exchange failed (HTTP %d): %s", self.provider, resp.status,
                        redact(resp.body[:300].decode("utf-8", "replace"), self.secrets))
            status = 401 if 400 <= resp.status < 500 else resp.status
            raise from_upstream(status, resp.body, resp.headers, provider=self.provider, secrets=self.secrets)
        try:
            answer = _decode(resp.body)
            token = answer["access_token"]
            lifetime = float(answer.get("expires_in") or 3600)
        except (msgspec.DecodeError, KeyError, TypeError, ValueError):
            raise ProviderError(f"{self.provider}: token endpoint answered without an access_token", code="upstream_error") from None
        if not isinstance(token, str) or not token:
            raise ProviderError(f"{self.provider}: token endpoint answered without an access_token", code="upstream_error")
        return Token(value=token, expires_in=lifetime)


def check_gcs_uris(request: Mapping[str, Any], allowed: frozenset[str]) -> None:
    """Refuse ``gs://`` files outside ``params.allowed_gcs_buckets``.

    Vertex reads a gs:// object with the gateway's service account, not the client's identity, so
    an unchecked URI lets any client read any bucket that account can. Checked on the translated
    request (what is actually sent), so no JSON escape in the client's body can slip past it.
    """
    for content in request.get("contents") or ():
        for part in content.get("parts") or ():
            uri = (part.get("fileData") or {}).get("fileUri") if isinstance(part, dict) else None
            if isinstance(uri, str) and uri[:5].lower() == "gs://":
                bucket = uri[5:].split("/", 1)[0]
                if bucket not in allowed:
                    raise InvalidRequest(
                        f"gs:// URIs are refused unless their bucket is in providers.vertex_ai.params.allowed_gcs_buckets "
                        f"(bucket {printable(bucket, 64)!r} is not)", param="messages", code="gcs_uri_not_allowed")


def load_credentials(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            info = _decode(fh.read())
    except OSError as exc:
        raise CredentialsError(f"cannot read credentials file {path!r}: {exc.strerror or exc}") from None
    except msgspec.DecodeError:
        raise CredentialsError(f"credentials file {path!r} is not JSON") from None
    if not isinstance(info, dict):
        raise CredentialsError(f"credentials file {path!r} is not a JSON object")
    return info


def host_for(location: str) -> str:
    if location == "global":
        return "https://aiplatform.googleapis.com"
    if location in ("us", "eu"):
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


# --- embeddings on Vertex: the text-embedding models' :predict ------------------------------------
# https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/text-embeddings-api


def to_predict_request(data: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"instances": [{"content": t} for t in gm.embed_texts(data)]}
    if data.get("dimensions") is not None:
        body["parameters"] = {"outputDimensionality": data["dimensions"]}
    return body


def to_embeddings(response: Any, data: dict[str, Any], model: str) -> dict[str, Any]:
    if not isinstance(response, dict):
        raise ProviderError("upstream answer is not a JSON object", code="upstream_error")
    vectors, tokens = [], 0
    for prediction in response.get("predictions") or []:
        embedding = (prediction or {}).get("embeddings") or {}
        vectors.append(embedding.get("values") or [])
        tokens += int((embedding.get("statistics") or {}).get("token_count") or 0)
    return gm.embedding_list(vectors, data, model, tokens)


class VertexAIProvider(GeminiProvider):
    def __init__(self, settings: Settings, transport: Transport, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings, transport)
        env = os.environ if environ is None else environ
        params = settings.params
        where = f"providers.{self.name}.params"
        # Settings problems stop start-up (and show in check-config) as ConfigErrors naming the key.
        path = params.get("credentials_file") or env.get("GOOGLE_APPLICATION_CREDENTIALS")
        if not path:
            raise ConfigError(f"{where}.credentials_file: not set and $GOOGLE_APPLICATION_CREDENTIALS is empty; "
                              "Vertex AI needs a service-account (or authorized_user) JSON key file")
        try:
            info = load_credentials(str(path))
            self.tokens = TokenSource(info, transport, self.name, Timeout(total=30.0, connect=self.timeout.connect))
        except CredentialsError as exc:
            raise ConfigError(f"{where}.credentials_file: {exc}") from None
        project = params.get("project") or params.get("project_id") or info.get("project_id") or env.get("GOOGLE_CLOUD_PROJECT")
        location = params.get("location") or env.get("GOOGLE_CLOUD_LOCATION") or DEFAULT_LOCATION
        if not project:
            raise ConfigError(f"{where}.project: not set, not in the key file and $GOOGLE_CLOUD_PROJECT is empty")
        for what, value in (("project", project), ("location", location)):
            if not isinstance(value, str) or not _NAME.match(value):
                raise ConfigError(f"{where}.{what}: {str(value)[:64]!r} is not a valid Google Cloud {what} name")
        buckets = params.get("allowed_gcs_buckets", [])
        if not isinstance(buckets, list) or not all(isinstance(b, str) and b for b in buckets):
            raise ConfigError(f"{where}.allowed_gcs_buckets: must be a list of bucket names")
        self.allowed_gcs_buckets = frozenset(buckets)
        host = self.base_url or host_for(str(location))
        self.models_root = f"{host}/v1/projects/{project}/locations/{location}/publishers/google/models"
        self._auth: tuple[str, dict[str, str], dict[str, str]] | None = None

    def model_url(self, model: str, method: str) -> str:
        return f"{self.models_root}/{quote(model, safe='')}:{method}"

    def chat_body(self, call: Call) -> bytes:
        request = gm.to_request(call.data(), call.model)
        check_gcs_uris(request, self.allowed_gcs_buckets)
        return _encode(request)

    async def auth_headers(self, stream: bool = False) -> Mapping[str, str]:
        token = await self.tokens.token()
        cached = self._auth
        if cached is None or cached[0] != token:  # two header dicts per token, not per request
            bearer = {"authorization": f"Bearer {token}"}
            self.secrets = (*self.base_secrets, token)  # upstream error messages never echo it
            cached = self._auth = (token, {**self.headers, **bearer}, {**self.stream_headers, **bearer})
        return cached[2] if stream else cached[1]

    def upstream_error(self, status: int, body: bytes, headers: Mapping[str, str], message: str | None = None,
                       kind: str | None = None) -> GatewayError:
        # Google's error bodies, without the Gemini API's "400 API_KEY_INVALID is a 401" rule: Vertex
        # authenticates with OAuth tokens, and its 400s are the request's fault.
        return Provider.upstream_error(self, status, body, headers, message=message or gm.error_message(body))

    async def embeddings(self, call: Call) -> Reply:
        data = call.data()
        answer = await self.send_json(self.model_url(call.model, "predict"), _encode(to_predict_request(data)))
        with self.translating:
            return Reply(_encode(to_embeddings(answer, data, call.model)))

    async def aclose(self) -> None:
        await self.tokens.aclose()

    async def list_models(self) -> list[str]:
        # Vertex lists publisher models only in v1beta1 and per publisher: the catalogue's list it is.
        return list(self.settings.models if self.settings.models is not None else self.spec.models)


ADAPTER = VertexAIProvider
