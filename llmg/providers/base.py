"""What every provider adapter is: the interface the routes call, and the shared plumbing.

An adapter module under ``llmg.providers`` exposes ``ADAPTER``, a ``Provider`` subclass. Routes
call ``chat``, ``chat_stream``, ``embeddings`` and ``list_models``; an adapter overrides the ones
its provider supports. Adapters talk HTTP only through ``self.transport``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import msgspec

from ..errors import GatewayError, NotSupported, ProviderError, from_upstream
from ..hygiene import names_only, redact_url, shown
from ..schemas.openai import ChatCompletionRequest, EmbeddingsRequest
from ..transports import Timeout, Transport, UpstreamResponse, UpstreamStream
from .catalogue import ProviderSpec

_decode = msgspec.json.decode
_encode = msgspec.json.Encoder().encode
log = logging.getLogger("llmg.providers")


# --- the one guard for translated answers -------------------------------------------------------
# What a translator raises when a 2xx answer is valid JSON of the wrong shape (a list where it
# indexes a dict, a number where it iterates, a missing key). msgspec.DecodeError is a ValueError.
SHAPE_ERRORS = (KeyError, TypeError, AttributeError, IndexError, ValueError)


def bad_answer(provider: str, exc: BaseException) -> ProviderError:
    """The 502 a wrong-shaped upstream answer becomes; logged without the body (it may hold prompts)."""
    log.warning("%s: upstream answer has an unexpected shape (%s)", provider, type(exc).__name__)
    return ProviderError(f"{provider}: the upstream answer has an unexpected shape", code="upstream_bad_response")


class TranslationGuard:
    """``with self.translating:`` around a response mapping: a shape error becomes a 502.

    Stateless and reentrant, so each adapter builds one and every request reuses it (no per-request
    allocation on the hot path). GatewayErrors a translator raises on purpose pass through.
    """

    __slots__ = ("provider",)

    def __init__(self, provider: str) -> None:
        self.provider = provider

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> Literal[False]:
        if exc is not None and isinstance(exc, SHAPE_ERRORS) and not isinstance(exc, GatewayError):
            raise bad_answer(self.provider, exc) from None
        return False


@dataclass(slots=True)
class Settings:
    """One provider as resolved at start-up: catalogue entry + config + environment."""

    name: str
    spec: ProviderSpec
    api_key: str | None
    base_url: str | None
    timeout: Timeout
    headers: dict[str, str]  # extra headers (catalogue + config), already expanded
    models: list[str] | None  # explicit list from the config; None -> the catalogue's
    params: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never the key, header or param values (reprs reach tracebacks and logs)
        return (f"Settings(name={self.name!r}, api_key={shown(self.api_key)}, base_url={redact_url(self.base_url)!r}, "
                f"timeout={self.timeout!r}, headers={names_only(self.headers)}, models={self.models!r}, params={names_only(self.params)})")


@dataclass(slots=True)
class Call:
    """One client request, routed: what the client sent and where it goes."""

    raw: bytes  # the client's body, exactly as received
    request: ChatCompletionRequest | EmbeddingsRequest  # the validated view of it
    requested_model: str  # "provider/model" after alias resolution
    model: str  # the upstream model id (prefix stripped)
    request_id: str
    _data: dict[str, Any] | None = None

    def data(self) -> dict[str, Any]:
        """The body as a dict, every field the client sent included (decoded once, on demand)."""
        if self._data is None:
            self._data = _decode(self.raw)
        return self._data

    def upstream_body(self) -> bytes:
        """The client's body with only ``model`` rewritten to the upstream id."""
        original = self.request.model
        if original == self.model:
            return self.raw
        # Fast path: splice the new value into the original bytes. A `"model":"<value>"` pair with
        # an unescaped quote can only be an object key, so exactly one hit is the top-level field.
        for needle in (b'"model":' + _encode(original), b'"model": ' + _encode(original)):
            if self.raw.count(needle) == 1 and self.raw.count(b'"model"') == 1:
                return self.raw.replace(needle, b'"model":' + _encode(self.model))
        data = dict(self.data())
        data["model"] = self.model
        return _encode(data)


@dataclass(slots=True)
class Reply:
    """A complete answer for the client: the status and JSON bytes to send."""

    body: bytes
    status: int = 200
    headers: dict[str, str] | None = None  # the type Sanic's HTTPResponse takes as it is


class Provider:
    """Base adapter. Subclasses override what their provider supports; the rest answers 501."""

    def __init__(self, settings: Settings, transport: Transport) -> None:
        self.settings = settings
        self.name = settings.name
        self.spec = settings.spec
        self.transport = transport
        self.base_url = (settings.base_url or "").rstrip("/")
        self.timeout = settings.timeout
        # What upstream error messages are scrubbed of: the key, and the values of headers the
        # config added (custom auth headers); fixed catalogue headers (anthropic-version) are not secret.
        fixed = {k.lower(): v for k, v in settings.spec.headers.items()}
        custom = tuple(v for k, v in settings.headers.items() if v and fixed.get(k) != v and len(v) >= 8)
        self.base_secrets: tuple[str, ...] = ((settings.api_key,) if settings.api_key else ()) + custom
        self.secrets = self.base_secrets  # adapters that exchange tokens add each new one
        self.headers = self.build_headers()
        self.translating = TranslationGuard(self.name)

    @classmethod
    def missing_setting(cls, settings: Settings, environ: Mapping[str, str]) -> str | None:
        """Why ``settings`` are incomplete for this adapter, or None when nothing required is unset.

        The one rule for incomplete provider settings (issue 17): the registry asks every adapter
        when the config is planned, with no I/O. An incomplete provider is skipped like one without
        a key: check-config lists the reason, serve warns with it, and a request for it gets the
        404 "Unknown provider" carrying it, never a 500 and never a stopped gateway. The reason
        names the unset setting and where to set it. Invalid values stay ConfigErrors.
        """
        return None

    # --- the interface the routes call ---------------------------------------------------------

    async def chat(self, call: Call) -> Reply:
        raise self.unsupported("chat completions")

    async def chat_stream(self, call: Call) -> AsyncIterator[bytes]:
        """Open the upstream stream (raising a GatewayError if that fails) and return SSE bytes."""
        raise self.unsupported("streaming chat completions")

    async def embeddings(self, call: Call) -> Reply:
        raise self.unsupported("embeddings")

    async def list_models(self) -> list[str]:
        """Model ids without the prefix. The default is the configured or catalogued list."""
        return list(self.settings.models if self.settings.models is not None else self.spec.models)

    async def aclose(self) -> None:
        """Release anything the adapter opened (token refreshers, background tasks)."""

    # --- shared plumbing for adapters ----------------------------------------------------------

    def build_headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        key = self.settings.api_key
        auth = self.spec.auth
        if key and auth == "bearer":
            headers["authorization"] = f"Bearer {key}"
        elif key and auth not in ("none", "custom"):
            headers[auth.lower()] = key
        headers.update(self.settings.headers)
        return headers

    def answer_json(self, body: bytes) -> dict[str, Any]:
        """A translated provider's 2xx answer as a JSON object. Anything else is the provider's
        fault, so it is a 502 for the client, never a traceback."""
        try:
            data = _decode(body)
        except msgspec.DecodeError:
            raise ProviderError(f"{self.name}: the upstream answer is not valid JSON", code="upstream_bad_response") from None
        if not isinstance(data, dict):
            raise ProviderError(f"{self.name}: unexpected upstream answer", code="upstream_bad_response")
        return data

    def unsupported(self, what: str) -> GatewayError:
        offers = f" It offers: {self.spec.offers}." if self.spec.offers else ""
        return NotSupported(f"{self.name} does not support {what}.{offers}", code="not_supported")

    def upstream_error(
        self, status: int, body: bytes, headers: Mapping[str, str], message: str | None = None, kind: str | None = None
    ) -> GatewayError:
        """``message``/``kind``: what a translated provider parsed from its own error format."""
        return from_upstream(status, body, headers, provider=self.name, secrets=self.secrets, message=message, kind=kind)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str] | None = None) -> UpstreamResponse:
        """POST and return a 2xx answer; any other status becomes the mapped GatewayError."""
        resp = await self.transport.request(
            "POST", url, headers=headers or self.headers, body=body, timeout=self.timeout, provider=self.name
        )
        if resp.status >= 300:
            raise self.upstream_error(resp.status, resp.body, resp.headers)
        return resp

    async def open_stream(self, url: str, body: bytes, headers: Mapping[str, str] | None = None) -> UpstreamStream:
        """Start a streamed POST; a non-2xx answer is read, closed and raised as a GatewayError."""
        stream = await self.transport.stream(
            "POST", url, headers=headers or self.headers, body=body, timeout=self.timeout, provider=self.name
        )
        if stream.status >= 300:
            try:
                body_bytes = await stream.read()
            finally:
                await stream.aclose()
            raise self.upstream_error(stream.status, body_bytes, stream.headers)
        return stream


class closing:  # noqa: N801 - used like a function: closing(stream, chunks)
    """Iterate ``chunks`` and always close the upstream stream (client gone, error, or done).

    A class, not an async generator: ``aclose()`` on a generator that never started skips its
    ``finally``, so a relay cancelled before its first chunk would keep the upstream connection
    (and its pool slot) open.

    Every streamed translator runs inside this, so it is also where a wrong-shaped event becomes
    an ``upstream_bad_response`` error event instead of a traceback (the same guard as plain answers).
    """

    __slots__ = ("_stream", "_chunks", "_open", "_provider")

    def __init__(self, stream: UpstreamStream, chunks: AsyncIterator[bytes], provider: str = "upstream") -> None:
        self._stream = stream
        self._chunks = chunks
        self._open = True
        self._provider = provider

    def __aiter__(self) -> closing:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except SHAPE_ERRORS as exc:
            await self.aclose()
            raise bad_answer(self._provider, exc) from None
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            inner = getattr(self._chunks, "aclose", None)
            if inner is not None:
                await inner()
        finally:
            await self._stream.aclose()
