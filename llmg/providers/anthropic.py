"""Anthropic Messages API adapter: POST {base}/messages with ``x-api-key`` and ``anthropic-version``.

The translation itself lives in ``anthropic_map`` (pure functions); this module only moves bytes.
Error statuses (https://docs.anthropic.com/en/api/errors) map through ``errors.from_upstream`` with
the message taken from Anthropic's ``{"type":"error","error":{"type","message"}}`` body, except
529 ``overloaded_error``, which becomes **503** ``provider_error`` (code ``provider_overloaded``):
the provider is up but temporarily out of capacity, a retryable condition that 502 ("bad upstream")
would misdescribe. Retry-After is passed on for 429 and 529.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import msgspec

from ..config import ConfigError
from ..errors import GatewayError, ProviderError
from ..schemas.openai import ChatCompletionRequest, encode
from ..streaming import sse_events
from ..transport import Timeout, UpstreamStream
from .anthropic_map import DEFAULT_MAX_TOKENS, StreamTranslator, error_of, from_anthropic, to_anthropic
from .base import Call, Provider, Reply, Settings, closing

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode
ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider(Provider):
    def __init__(self, settings: Settings, transport) -> None:
        super().__init__(settings, transport)
        self.messages_url = f"{self.base_url}/messages"
        self.models_url = f"{self.base_url}/models"
        # The version header is in the catalogue; keep it even if a config replaced the headers.
        self.headers.setdefault("anthropic-version", ANTHROPIC_VERSION)
        self.stream_headers = {**self.headers, "accept": "text/event-stream"}
        configured = settings.params.get("default_max_tokens", DEFAULT_MAX_TOKENS)
        if not isinstance(configured, int) or isinstance(configured, bool) or configured < 1:
            raise ConfigError(f"providers.{self.name}.params.default_max_tokens must be a positive integer")
        self.default_max_tokens = configured

    def _body(self, call: Call) -> bytes:
        return _encode(to_anthropic(call.data(), call.model, self.default_max_tokens))

    async def chat(self, call: Call) -> Reply:
        resp = await self.post(self.messages_url, self._body(call))
        with self.translating:
            return Reply(encode(from_anthropic(self.answer_json(resp.body), call.model)))

    async def chat_stream(self, call: Call) -> AsyncIterator[bytes]:
        body = self._body(call)
        stream = await self.open_stream(self.messages_url, body, self.stream_headers)
        request = call.request
        assert isinstance(request, ChatCompletionRequest)
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        translator = StreamTranslator(call.model, include_usage, self.name)
        return closing(stream, self._translate(stream, translator), self.name)

    async def _translate(self, stream: UpstreamStream, translator: StreamTranslator) -> AsyncIterator[bytes]:
        try:
            async for ev in sse_events(stream.chunks()):
                for out in translator.feed(ev.event, ev.data):
                    yield out
                if translator.done:
                    return
        except msgspec.DecodeError:
            raise ProviderError(f"{self.name}: malformed stream event", code="stream_error") from None
        raise ProviderError(f"{self.name}: the stream ended before message_stop", code="stream_error")

    def upstream_error(self, status: int, body: bytes, headers: Mapping[str, str], message: str | None = None) -> GatewayError:
        kind, parsed = error_of(body)
        err = super().upstream_error(status, body, headers, message=message or parsed)
        if status == 529 or kind == "overloaded_error":
            err = ProviderError(f"{self.name}: overloaded" + (f": {parsed}" if parsed else ""), status=503, code="provider_overloaded")
            retry_after = headers.get("retry-after")
            if retry_after and retry_after.strip().isdigit():
                err.headers["retry-after"] = retry_after.strip()
        return err

    async def list_models(self) -> list[str]:
        """Anthropic's GET /v1/models (``data[].id``); the configured or catalogued list if that fails."""
        if self.settings.models is not None:
            return await super().list_models()
        try:
            resp = await self.transport.request(
                "GET", self.models_url, headers=self.headers,
                timeout=Timeout(total=5.0, connect=self.timeout.connect), provider=self.name,
            )
            if resp.status == 200:
                data = _decode(resp.body)
                ids = [m["id"] for m in data.get("data", []) if isinstance(m, dict) and isinstance(m.get("id"), str)]
                if ids:
                    return ids
        except Exception:  # a dead provider must never break /v1/models
            pass
        return await super().list_models()


ADAPTER = AnthropicProvider
