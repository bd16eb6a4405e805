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
from ..sse import SSEEvent
from ..transports import Transport
from . import anthropic_wire as wire
from .anthropic_map import DEFAULT_MAX_TOKENS, StreamTranslator, error_of, from_anthropic, stream_error, to_anthropic
from .base import Call, Provider, Reply, Settings, closing
from .model_ids import fetch_model_ids, ids_in_data
from .translate import require_event_stream, run, sse_decoded

_encode = msgspec.json.Encoder().encode
ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider(Provider):
    def __init__(self, settings: Settings, transport: Transport) -> None:
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
        try:
            message = wire.decode_message(resp.body)
        except msgspec.DecodeError:  # not JSON, or JSON of the wrong shape: the provider's fault
            raise ProviderError(f"{self.name}: unexpected upstream answer", code="upstream_bad_response") from None
        with self.translating:
            return Reply(encode(from_anthropic(message, call.model)))

    async def chat_stream(self, call: Call) -> AsyncIterator[bytes]:
        body = self._body(call)
        stream = await require_event_stream(await self.open_stream(self.messages_url, body, self.stream_headers), self.name)
        request = call.request
        assert isinstance(request, ChatCompletionRequest)
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        translator = StreamTranslator(call.model, include_usage, self.name)
        events: AsyncIterator[wire.Event] = sse_decoded(stream.chunks(), self._event)
        return closing(stream, run(events, translator), self.name)

    def _event(self, ev: SSEEvent) -> wire.Event | None:
        if not ev.data:
            return None
        try:
            item = wire.decode_event(ev.data)
        except msgspec.ValidationError:  # JSON of the wrong shape: the same guard as plain answers
            raise ProviderError(f"{self.name}: unexpected upstream answer", code="upstream_bad_response") from None
        except msgspec.DecodeError:
            raise ProviderError(f"{self.name}: malformed stream event", code="stream_error") from None
        if isinstance(item, wire.Error):
            raise stream_error(ev.data, self.name)
        return item

    def upstream_error(
        self, status: int, body: bytes, headers: Mapping[str, str], message: str | None = None, kind: str | None = None
    ) -> GatewayError:
        parsed_kind, parsed = error_of(body)
        kind = kind or parsed_kind
        # Anthropic's body is never OpenAI's envelope: always hand over the parsed message (or "").
        err = super().upstream_error(status, body, headers, message=message or parsed or "", kind=kind)
        if status == 529 or kind == "overloaded_error":
            err = ProviderError("overloaded" + (f": {parsed}" if parsed else ""), status=503, code="provider_overloaded",
                                headers=err.headers)
            retry_after = headers.get("retry-after")
            if retry_after and retry_after.strip().isdigit():
                err.headers["retry-after"] = retry_after.strip()
        return err

    async def list_models(self) -> list[str]:
        """Anthropic's GET /v1/models (``data[].id``); the configured or catalogued list if that fails."""
        return await fetch_model_ids(self, self.models_url, self.headers, ids_in_data)


ADAPTER = AnthropicProvider
