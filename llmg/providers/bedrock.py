"""Amazon Bedrock adapter: Converse / ConverseStream, signed with AWS Signature Version 4.

    POST {base}/model/{modelId}/converse          JSON answer
    POST {base}/model/{modelId}/converse-stream   application/vnd.amazon.eventstream answer
    POST {base}/model/{modelId}/invoke            embeddings (Titan, Cohere; bodies in ``bedrock_embed``)

``base`` is ``https://bedrock-runtime.{region}.amazonaws.com`` unless ``base_url`` is configured
(a VPC endpoint, a proxy, a test fake). Credentials (``aws_credentials``): a Bedrock API key
(``params.bearer_token`` / ``AWS_BEARER_TOKEN_BEDROCK``, Bearer auth); static keys
(``providers.bedrock.api_key`` or ``AWS_ACCESS_KEY_ID``, ``params.secret_access_key`` /
``AWS_SECRET_ACCESS_KEY``, ``params.session_token`` / ``AWS_SESSION_TOKEN``); else botocore's
chain (profiles and SSO, web identity, container and instance roles), refreshed off the event
loop; a 403 ExpiredToken / UnrecognizedClient / InvalidSignature to chain credentials (revoked or
rotated before their stated expiry) renews them and retries the call once. Region: ``params.region`` / ``AWS_REGION`` /
``AWS_DEFAULT_REGION`` (us-east-1). No credential at all skips the provider with the reason (``missing_setting``).

The translation lives in ``bedrock_map`` (pure functions), the signature in ``llmg.sigv4`` and the
binary stream framing in ``llmg.eventstream``; this module only moves bytes. Errors: Bedrock's
``{"message"}`` body and ``x-amzn-ErrorType`` header map through ``errors.from_upstream`` (403
AccessDenied/UnrecognizedClient/InvalidSignature -> 401, 429 Throttling -> 429, 5xx -> 502), with
ModelErrorException (424, the model itself failed) reported as a 502 provider error.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import msgspec

from ..config import ConfigError
from ..errors import PROVIDER_HEADER, GatewayError, ProviderError, redact
from ..eventstream import EventStreamDecoder, EventStreamError
from ..schemas.openai import ChatCompletionRequest, encode
from ..sigv4 import Signer
from ..transports import Transport, UpstreamResponse, UpstreamStream
from . import bedrock_embed as be
from .aws_credentials import ChainCredentials, chain_hint
from .base import Call, Provider, Reply, Settings, closing
from .bedrock_map import StreamTranslator, describe, error_of, from_converse, stream_exception, to_converse
from .fanout import bounded, chunks
from .gemini_map import embedding_list
from .translate import require_event_stream, run

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode
_REGION = re.compile(r"[a-z0-9-]+")
DEFAULT_REGION = "us-east-1"
SERVICE = "bedrock"  # the SigV4 signing name of bedrock-runtime
STREAM_ACCEPT = "application/vnd.amazon.eventstream"
# 403s that mean "these credentials no longer work" (expired or revoked early, keys rotated): with
# credentials from botocore's chain they are renewed and the call retried once.
STALE_CREDENTIAL_ERRORS = frozenset({"ExpiredTokenException", "UnrecognizedClientException", "InvalidSignatureException"})
EMBED_CONCURRENCY = 8  # InvokeModel calls in flight for one embeddings batch (params.embed_concurrency)

log = logging.getLogger("llmg.providers.bedrock")


def _setting(params: Mapping[str, object], keys: tuple[str, ...], env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for key in keys:
        value = params.get(key)
        if isinstance(value, str) and value:
            return value
    for name in names:
        if env.get(name):
            return env[name]
    return None


def _bearer(params: Mapping[str, object], env: Mapping[str, str]) -> str | None:
    return _setting(params, ("bearer_token", "api_key_bedrock"), env, ("AWS_BEARER_TOKEN_BEDROCK",))


def _secret(params: Mapping[str, object], env: Mapping[str, str]) -> str | None:
    return _setting(params, ("secret_access_key", "aws_secret_access_key"), env, ("AWS_SECRET_ACCESS_KEY",))


class BedrockProvider(Provider):
    @classmethod
    def missing_setting(cls, settings: Settings, environ: Mapping[str, str]) -> str | None:
        params = settings.params
        if _bearer(params, environ):
            return None
        if settings.api_key:
            if _secret(params, environ):
                return None
            return (f"no AWS secret access key for the access key id: set $AWS_SECRET_ACCESS_KEY or "
                    f"providers.{settings.name}.params.secret_access_key")
        if chain_hint(params, environ):
            return None
        return (f"no AWS credentials: set $AWS_BEARER_TOKEN_BEDROCK (a Bedrock API key), $AWS_ACCESS_KEY_ID and "
                f"$AWS_SECRET_ACCESS_KEY, a profile ($AWS_PROFILE, ~/.aws), web identity ($AWS_WEB_IDENTITY_TOKEN_FILE), "
                f'a container or instance role (or params.credentials = "chain"), or providers.{settings.name}.params.bearer_token')

    def __init__(self, settings: Settings, transport: Transport, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings, transport)
        env = os.environ if environ is None else environ
        params = settings.params
        region = _setting(params, ("region",), env, ("AWS_REGION", "AWS_DEFAULT_REGION")) or DEFAULT_REGION
        if not _REGION.fullmatch(region):
            raise ConfigError(f"providers.{self.name}: {region!r} is not an AWS region name")
        self.region = region
        concurrency = params.get("embed_concurrency", EMBED_CONCURRENCY)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 64:
            raise ConfigError(f"providers.{self.name}.params.embed_concurrency: must be an integer from 1 to 64")
        self.embed_concurrency = concurrency
        input_type = params.get("input_type", "search_document")
        if input_type not in be.COHERE_INPUT_TYPES:
            raise ConfigError(f"providers.{self.name}.params.input_type: must be one of {', '.join(be.COHERE_INPUT_TYPES)}")
        self.input_type = str(input_type)

        template = self.base_url or self.spec.base_url_template or "https://bedrock-runtime.{region}.amazonaws.com"
        base = template.replace("{region}", region)
        parts = urlsplit(base)
        # The Host header as HTTP clients send it: no user info, no default port.
        netloc = parts.netloc.rpartition("@")[2]
        default_port = {"https": ":443", "http": ":80"}.get(parts.scheme, "")
        self.host = netloc[: -len(default_port)] if default_port and netloc.endswith(default_port) else netloc
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.prefix = parts.path.rstrip("/")

        # Signed on every request: content-type and accept, plus any headers the config adds.
        self.stream_headers = {**self.headers, "accept": STREAM_ACCEPT}
        self.signer: Signer | None = None
        self.chain: ChainCredentials | None = None
        bearer = _bearer(params, env)
        if bearer:
            # A Bedrock API key: Bearer auth, no signature (and no other credential is consulted).
            auth = {"authorization": f"Bearer {bearer}"}
            self.headers, self.stream_headers = {**self.headers, **auth}, {**self.stream_headers, **auth}
            self.secrets = tuple(dict.fromkeys((*self.base_secrets, bearer)))
            self.credential_source = "bearer token"
            return
        access = settings.api_key or ""
        secret = _secret(params, env)
        if access and secret:
            token = _setting(params, ("session_token", "aws_session_token"), env, ("AWS_SESSION_TOKEN",))
            self.secrets = tuple(dict.fromkeys(self.base_secrets + tuple(s for s in (access, secret, token) if s)))
            self.signer = Signer(access, secret, region, SERVICE, token)
            self.credential_source = "static keys"
            return
        profile = _setting(params, ("profile",), env, ())
        self.chain = ChainCredentials(self.name, region, SERVICE, profile)
        self.credential_source = "botocore credential chain"

    # --- requests ----------------------------------------------------------------------------

    def _path(self, model: str, operation: str) -> str:
        # The model id is a single path segment: '/' (in ARNs) is escaped. ':', '@' and '+' are
        # valid in a path segment and stay raw, because that is what aiohttp (yarl) puts on the
        # wire even when given %3A; signing exactly what is sent keeps both transports correct.
        return f"{self.prefix}/model/{quote(model, safe=':@+')}/{operation}"

    async def _signed(self, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[Mapping[str, str], str | None]:
        """The headers to send and the chain credential that signed them (None: static keys or a
        Bedrock API key, which are never renewed)."""
        signer = self.signer
        if signer is None:
            if self.chain is None:  # a Bedrock API key: the Bearer header is already in place
                return headers, None
            key, signer = await self.chain.signer()
            self.secrets = tuple(dict.fromkeys(self.base_secrets + self.chain.secrets))
            return signer.sign("POST", self.host, path, body, headers=headers), key
        return signer.sign("POST", self.host, path, body, headers=headers), None

    async def _refused(self, status: int, body: bytes, headers: Mapping[str, str], key: str | None) -> bool:
        """Whether Bedrock refused chain credentials it should have taken (revoked or rotated before
        their stated expiry); if so they are renewed (single-flight) and the caller retries once."""
        if status != 403 or key is None or self.chain is None or not self.chain.refreshable:
            return False
        kind, _ = error_of(body, headers)
        if kind not in STALE_CREDENTIAL_ERRORS:
            return False
        await self.chain.renew(key, kind)
        return True

    async def _post(self, call: Call, operation: str, headers: Mapping[str, str], body: bytes) -> UpstreamResponse:
        path = self._path(call.model, operation)
        for attempt in (0, 1):
            signed, key = await self._signed(path, body, headers)
            resp = await self.transport.request("POST", self.origin + path, headers=signed, body=body,
                                                timeout=self.timeout, provider=self.name)
            if resp.status < 300:
                return resp
            if attempt == 0 and await self._refused(resp.status, resp.body, resp.headers, key):
                continue
            raise self.upstream_error(resp.status, resp.body, resp.headers)
        raise AssertionError("unreachable")

    async def _stream(self, call: Call, body: bytes) -> UpstreamStream:
        path = self._path(call.model, "converse-stream")
        for attempt in (0, 1):
            signed, key = await self._signed(path, body, self.stream_headers)
            stream = await self.transport.stream("POST", self.origin + path, headers=signed, body=body,
                                                 timeout=self.timeout, provider=self.name)
            if stream.status < 300:
                return stream
            try:
                error_body = await stream.read()
            finally:
                await stream.aclose()
            if attempt == 0 and await self._refused(stream.status, error_body, stream.headers, key):
                continue
            raise self.upstream_error(stream.status, error_body, stream.headers)
        raise AssertionError("unreachable")

    def _ident(self, headers: Mapping[str, str], call: Call) -> str:
        return f"chatcmpl-{headers.get('x-amzn-requestid') or call.request_id}"

    async def chat(self, call: Call) -> Reply:
        resp = await self._post(call, "converse", self.headers, _encode(to_converse(call.data(), call.model)))
        with self.translating:
            data = self.answer_json(resp.body)
            return Reply(encode(from_converse(data, call.model, self._ident(resp.headers, call))))

    async def chat_stream(self, call: Call) -> AsyncIterator[bytes]:
        stream = await require_event_stream(await self._stream(call, _encode(to_converse(call.data(), call.model))), self.name)
        request = call.request
        assert isinstance(request, ChatCompletionRequest)
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        translator = StreamTranslator(call.model, self._ident(stream.headers, call), include_usage, int(time.time()), self.name)
        return closing(stream, run(self._events(stream), translator), self.name)

    async def _events(self, stream: UpstreamStream) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """The body's event-stream messages as ``(event type, JSON payload)``; an exception message
        (after the answer started) or a broken frame raises."""
        decoder = EventStreamDecoder()
        try:
            async for chunk in stream.chunks():
                for message in decoder.feed(chunk):
                    headers = message.headers
                    kind = headers.get(":message-type", "event")
                    if kind != "event":  # "exception" (a modelled error) or "error" (a protocol-level one)
                        raise stream_exception(headers, message.payload, self.name, self.secrets)
                    payload = _decode(message.payload) if message.payload else {}
                    if not isinstance(payload, dict):
                        raise ProviderError(f"{self.name}: malformed stream event payload", code="stream_error")
                    yield str(headers.get(":event-type", "")), payload
            decoder.close()
        except EventStreamError as exc:
            raise ProviderError(f"{self.name}: malformed event stream ({exc})", code="stream_error") from None
        except msgspec.DecodeError:
            raise ProviderError(f"{self.name}: malformed stream event payload", code="stream_error") from None

    # --- embeddings: InvokeModel (Titan one input per call, Cohere up to 96) ---------------------

    async def embeddings(self, call: Call) -> Reply:
        data = call.data()
        family = be.family_of(call.model)
        texts = be.texts_of(data)
        # Bodies are built (and bad input refused) before the first upstream call.
        batches = chunks(texts, family.batch)
        bodies = [_encode(be.request_body(family, call.model, data, batch, self.input_type)) for batch in batches]
        sizes = [len(batch) for batch in batches]

        async def invoke(n: int) -> tuple[list[list[float]], int]:
            resp = await self._post(call, "invoke", self.headers, bodies[n])
            with self.translating:
                return be.vectors_of(family, self.answer_json(resp.body), resp.headers, sizes[n])

        parts = await bounded(range(len(bodies)), invoke, self.embed_concurrency)
        vectors = [vector for part, _ in parts for vector in part]
        return Reply(_encode(embedding_list(vectors, data, call.model, sum(tokens for _, tokens in parts))))

    # --- errors ------------------------------------------------------------------------------

    def upstream_error(
        self, status: int, body: bytes, headers: Mapping[str, str], message: str | None = None, kind: str | None = None
    ) -> GatewayError:
        parsed_kind, parsed = error_of(body, headers)
        kind = kind or parsed_kind
        text = message or describe(kind, parsed) or ""
        if kind == "ModelErrorException":
            return ProviderError(redact("the model failed (ModelErrorException)" + (f": {parsed}" if parsed else ""),
                                        self.secrets), code="upstream_error", headers={PROVIDER_HEADER: self.name})
        return super().upstream_error(status, body, headers, message=text, kind=kind)


    async def aclose(self) -> None:
        if self.chain is not None:
            await self.chain.aclose()


ADAPTER = BedrockProvider
