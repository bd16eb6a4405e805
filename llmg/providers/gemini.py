"""Google Gemini API (AI Studio): chat, streaming, tools and embeddings over ``generateContent``.

Endpoints (https://ai.google.dev/api/generate-content, .../api/embeddings, .../api/models):
  POST {base}/models/{model}:generateContent
  POST {base}/models/{model}:streamGenerateContent?alt=sse   (SSE, one GenerateContentResponse per event)
  POST {base}/models/{model}:batchEmbedContents
  GET  {base}/models
with ``x-goog-api-key: <key>``. The translation itself lives in ``gemini_map`` (pure functions);
this module only builds URLs, sends, and maps Google's error bodies.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import msgspec

from ..errors import GatewayError, ProviderError
from ..schemas.openai import ChatCompletionRequest
from ..sse import SSEEvent
from ..transports import Transport, UpstreamStream
from . import gemini_map as gm
from . import gemini_wire as wire
from .base import Call, Provider, Reply, Settings, closing
from .model_ids import fetch_model_ids
from .translate import require_event_stream, run, sse_decoded

_encode = msgspec.json.Encoder().encode


class GeminiProvider(Provider):
    def __init__(self, settings: Settings, transport: Transport) -> None:
        super().__init__(settings, transport)
        self.stream_headers = {**self.headers, "accept": "text/event-stream"}

    # --- what Vertex AI overrides ---------------------------------------------------------------

    def model_url(self, model: str, method: str) -> str:
        return f"{self.base_url}/models/{quote(model, safe='')}:{method}"

    async def auth_headers(self, stream: bool = False) -> Mapping[str, str]:
        return self.stream_headers if stream else self.headers

    def upstream_error(self, status: int, body: bytes, headers: Mapping[str, str], message: str | None = None,
                       kind: str | None = None) -> GatewayError:
        if gm.is_bad_api_key(status, body):  # Google says 400 for a wrong key; it is an auth failure
            status = 401
        return super().upstream_error(status, body, headers, message=message or gm.error_message(body))

    # --- sending --------------------------------------------------------------------------------

    async def send(self, url: str, body: bytes) -> wire.GenerateContentResponse:
        resp = await self.post(url, body, await self.auth_headers())
        try:
            return wire.decode_response(resp.body)
        except msgspec.DecodeError:  # not JSON, or JSON of the wrong shape: the provider's fault
            raise ProviderError(f"{self.name}: unexpected upstream answer", code="upstream_bad_response") from None

    async def send_json(self, url: str, body: bytes) -> Any:
        resp = await self.post(url, body, await self.auth_headers())
        return self.answer_json(resp.body)

    async def start_stream(self, url: str, body: bytes) -> UpstreamStream:
        stream = await self.open_stream(url, body, await self.auth_headers(stream=True))
        return await require_event_stream(stream, self.name)

    # --- the interface --------------------------------------------------------------------------

    def chat_body(self, call: Call) -> bytes:
        """The GenerateContentRequest for ``call`` (Vertex checks it before it is sent)."""
        return _encode(gm.to_request(call.data(), call.model))

    async def chat(self, call: Call) -> Reply:
        body = self.chat_body(call)
        answer = await self.send(self.model_url(call.model, "generateContent"), body)
        with self.translating:
            return Reply(_encode(gm.to_completion(answer, call.model)))

    async def chat_stream(self, call: Call) -> AsyncIterator[bytes]:
        body = self.chat_body(call)
        stream = await self.start_stream(self.model_url(call.model, "streamGenerateContent") + "?alt=sse", body)
        request = call.request
        assert isinstance(request, ChatCompletionRequest)
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        translator = gm.StreamTranslator(call.model, include_usage, int(time.time()))
        return closing(stream, run(sse_decoded(stream.chunks(), self._event), translator), self.name)

    def _event(self, ev: SSEEvent) -> wire.GenerateContentResponse | None:
        data = ev.data.strip()
        if not data or data == "[DONE]":
            return None
        try:
            return wire.decode_response(data)
        except msgspec.ValidationError:  # JSON of the wrong shape: the same guard as plain answers
            raise ProviderError(f"{self.name}: unexpected upstream answer", code="upstream_bad_response") from None
        except msgspec.DecodeError:
            raise ProviderError(f"{self.name}: malformed stream event", code="stream_error") from None

    async def embeddings(self, call: Call) -> Reply:
        data = call.data()
        body = _encode(gm.to_embed_request(data, call.model))
        answer = await self.send_json(self.model_url(call.model, "batchEmbedContents"), body)
        with self.translating:
            return Reply(_encode(gm.to_embeddings(answer, data, call.model)))

    async def list_models(self) -> list[str]:
        """The API's own list (``models/x`` -> ``x``); the configured or catalogued list if that fails."""
        return await fetch_model_ids(self, f"{self.base_url}/models?pageSize=1000", await self.auth_headers(), _model_names)


def _model_names(body: Any) -> list[str]:
    models = body.get("models") if isinstance(body, dict) else None
    return [m["name"].removeprefix("models/") for m in models or () if isinstance(m, dict) and isinstance(m.get("name"), str)]


ADAPTER = GeminiProvider
