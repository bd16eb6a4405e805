"""Google Vertex AI: the Gemini wire format on the regional endpoint, with an OAuth access token.

Endpoint (https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference and
.../learn/locations for the global and multi-region hosts):
  POST https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}
       /publishers/google/models/{model}:generateContent | :streamGenerateContent?alt=sse | :predict
  (location "global" -> host aiplatform.googleapis.com; "us"/"eu" -> aiplatform.{us,eu}.rep.googleapis.com)
with ``Authorization: Bearer <access token>``. The token comes from google-auth's standard chain
(``gcp_credentials``: key file, $GOOGLE_APPLICATION_CREDENTIALS, gcloud user credentials, workload
identity federation, the metadata server), refreshed in a worker thread and cached by the one
token cache.

Express mode (``providers.vertex_ai.api_key`` set): ``POST https://aiplatform.googleapis.com/v1/
publishers/google/models/{model}:generateContent`` with ``x-goog-api-key``; no project, no location.

Settings: ``params.credentials_file`` or the chain; ``params.project`` or the key file's project_id
or $GOOGLE_CLOUD_PROJECT; ``params.location`` or $GOOGLE_CLOUD_LOCATION or us-central1.
``base_url`` (tests, private endpoints) replaces the scheme+host. Missing credentials or project
skip the provider with the reason (``missing_setting``), they never stop the gateway.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import msgspec

from ..config import ConfigError
from ..errors import GatewayError, InvalidRequest, ProviderError, printable
from ..transports import Transport
from . import gcp_credentials as gc
from . import gemini_map as gm
from .base import Call, Provider, Reply, Settings
from .fanout import bounded, chunks
from .gcp_credentials import CredentialsError
from .gemini import GeminiProvider

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode
log = logging.getLogger("llmg.providers.vertex_ai")

DEFAULT_LOCATION = "us-central1"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")  # project ids and locations: no room for URL tricks


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
# "For gemini-embedding-001, each request can only include a single input text"; the text-embedding
# and text-multilingual-embedding models take up to 250. A larger batch is split client-side.
MAX_INSTANCES = {"gemini-embedding-001": 1}
DEFAULT_MAX_INSTANCES = 250
EMBED_CONCURRENCY = 8  # upstream requests in flight for one split batch (params.embed_concurrency)


def max_instances(model: str) -> int:
    return MAX_INSTANCES.get(model, DEFAULT_MAX_INSTANCES)


def to_predict_request(data: dict[str, Any], texts: Sequence[str] | None = None) -> dict[str, Any]:
    chosen = gm.embed_texts(data) if texts is None else texts
    body: dict[str, Any] = {"instances": [{"content": t} for t in chosen]}
    if data.get("dimensions") is not None:
        body["parameters"] = {"outputDimensionality": data["dimensions"]}
    return body


def predictions_of(response: Any) -> tuple[list[list[float]], int]:
    """(vectors, token count) of one :predict answer."""
    if not isinstance(response, dict):
        raise ProviderError("upstream answer is not a JSON object", code="upstream_error")
    vectors, tokens = [], 0
    for prediction in response.get("predictions") or []:
        embedding = (prediction or {}).get("embeddings") or {}
        vectors.append(embedding.get("values") or [])
        tokens += int((embedding.get("statistics") or {}).get("token_count") or 0)
    return vectors, tokens


def to_embeddings(response: Any, data: dict[str, Any], model: str) -> dict[str, Any]:
    vectors, tokens = predictions_of(response)
    return gm.embedding_list(vectors, data, model, tokens)


MISSING_CREDENTIALS = (
    "no Google credentials: set providers.{name}.params.credentials_file or $GOOGLE_APPLICATION_CREDENTIALS, "
    "run `gcloud auth application-default login`, run on Google Cloud (metadata server; or "
    'params.credentials = "metadata"), or set providers.{name}.api_key for Vertex AI express mode'
)


def _project(params: Mapping[str, Any], info: Mapping[str, Any] | None, env: Mapping[str, str]) -> str | None:
    value = params.get("project") or params.get("project_id") or gc.project_of(info) or env.get("GOOGLE_CLOUD_PROJECT")
    return str(value) if value else None


def _file_info(source: gc.Source | None) -> dict[str, Any] | None:
    return load_credentials(source.path) if source is not None and source.path else None


class VertexAIProvider(GeminiProvider):
    @classmethod
    def missing_setting(cls, settings: Settings, environ: Mapping[str, str]) -> str | None:
        if settings.api_key:  # express mode: the key is the whole credential
            return None
        source = gc.find_source(settings.params, environ, settings.name)
        if source is None:
            return MISSING_CREDENTIALS.format(name=settings.name)
        try:
            info = _file_info(source)
        except CredentialsError:
            return None  # a named file that cannot be read is a wrong value: __init__ reports it
        if not _project(settings.params, info, environ):
            return (f"no project: set providers.{settings.name}.params.project or $GOOGLE_CLOUD_PROJECT "
                    f"(the credentials from {source.origin} name none)")
        return None

    def __init__(self, settings: Settings, transport: Transport, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings, transport)
        env = os.environ if environ is None else environ
        params = settings.params
        where = f"providers.{self.name}.params"
        buckets = params.get("allowed_gcs_buckets", [])
        if not isinstance(buckets, list) or not all(isinstance(b, str) and b for b in buckets):
            raise ConfigError(f"{where}.allowed_gcs_buckets: must be a list of bucket names")
        self.allowed_gcs_buckets = frozenset(buckets)
        concurrency = params.get("embed_concurrency", EMBED_CONCURRENCY)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 64:
            raise ConfigError(f"{where}.embed_concurrency: must be an integer from 1 to 64")
        self.embed_concurrency = concurrency
        self._auth: tuple[str, dict[str, str], dict[str, str]] | None = None
        self.tokens: gc.GoogleTokens | None = None
        if settings.api_key:
            # Vertex AI express mode: the global host, no project or location in the path, and the
            # key in x-goog-api-key (https://cloud.google.com/vertex-ai/generative-ai/docs/start/
            # express-mode/vertex-ai-express-mode-api-reference).
            host = self.base_url or host_for("global")
            self.models_root = f"{host}/v1/publishers/google/models"
            keyed = {"x-goog-api-key": settings.api_key}
            self._express = ({**self.headers, **keyed}, {**self.stream_headers, **keyed})
            return
        # Settings problems stop start-up (and show in check-config) as ConfigErrors naming the key;
        # missing ones never get here (missing_setting skips the provider first).
        source = gc.find_source(params, env, self.name)
        if source is None:
            raise ConfigError(f"{where}.credentials_file: " + MISSING_CREDENTIALS.format(name=self.name))
        try:
            info = _file_info(source)
            token_url = params.get("token_url")
            credentials = gc.load(source, info, str(token_url) if token_url else None)
        except CredentialsError as exc:
            what = "credentials_file" if source.origin.endswith("credentials_file") else "credentials"
            raise ConfigError(f"{where}.{what}: {exc} (from {source.origin})") from None
        self.tokens = gc.GoogleTokens(credentials, self.name, gc.secrets_of(info or {}))
        self.credential_source = source.origin
        project = _project(params, info, env)
        location = params.get("location") or env.get("GOOGLE_CLOUD_LOCATION") or DEFAULT_LOCATION
        if not project:
            raise ConfigError(f"{where}.project: not set, not in the key file and $GOOGLE_CLOUD_PROJECT is empty")
        for what, value in (("project", project), ("location", location)):
            if not isinstance(value, str) or not _NAME.match(value):
                raise ConfigError(f"{where}.{what}: {str(value)[:64]!r} is not a valid Google Cloud {what} name")
        host = self.base_url or host_for(str(location))
        self.models_root = f"{host}/v1/projects/{project}/locations/{location}/publishers/google/models"

    def model_url(self, model: str, method: str) -> str:
        return f"{self.models_root}/{quote(model, safe='')}:{method}"

    def chat_body(self, call: Call) -> bytes:
        request = gm.to_request(call.data(), call.model)
        check_gcs_uris(request, self.allowed_gcs_buckets)
        return _encode(request)

    async def auth_headers(self, stream: bool = False) -> Mapping[str, str]:
        if self.tokens is None:  # express mode
            return self._express[1] if stream else self._express[0]
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
        # authenticates with OAuth tokens, and its 400s are the request's fault. Express mode
        # authenticates with an API key, so there the Gemini rule applies.
        if self.tokens is None:
            return GeminiProvider.upstream_error(self, status, body, headers, message=message)
        return Provider.upstream_error(self, status, body, headers, message=message or gm.error_message(body))

    async def embeddings(self, call: Call) -> Reply:
        data = call.data()
        texts = gm.embed_texts(data)
        url = self.model_url(call.model, "predict")
        batches = chunks(texts, max_instances(call.model))

        async def predict(batch: Sequence[str]) -> tuple[list[list[float]], int]:
            answer = await self.send_json(url, _encode(to_predict_request(data, batch)))
            with self.translating:
                return predictions_of(answer)

        parts = await bounded(batches, predict, self.embed_concurrency)
        vectors = [vector for part, _ in parts for vector in part]
        if len(vectors) != len(texts):
            raise ProviderError(f"{self.name}: {len(vectors)} embeddings for {len(texts)} inputs", code="upstream_bad_response")
        return Reply(_encode(gm.embedding_list(vectors, data, call.model, sum(tokens for _, tokens in parts))))

    async def aclose(self) -> None:
        if self.tokens is not None:
            await self.tokens.aclose()

    async def list_models(self) -> list[str]:
        # Vertex lists publisher models only in v1beta1 and per publisher: the catalogue's list it is.
        return list(self.settings.models if self.settings.models is not None else self.spec.models)


ADAPTER = VertexAIProvider
