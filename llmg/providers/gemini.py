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

import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import msgspec

from ..errors import GatewayError
from ..schemas.openai import ChatCompletionRequest
from ..streaming import event_json, sse_events
from ..transport import Timeout, UpstreamStream
from . import gemini_map as gm
from .base import Call, Provider, Reply, Settings, closing

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode
log = logging.getLogger("llmg.providers.gemini")


class GeminiProvider(Provider):
    def __init__(self, settings: Settings, transport) -> None:
        super().__init__(settings, transport)
        self.stream_headers = {**self.headers, "accept": "text/event-stream"}

    # --- what Vertex AI overrides ---------------------------------------------------------------

    def model_url(self, model: str, method: str) -> str:
        return f"{self.base_url}/models/{quote(model, safe='')}:{method}"

    async def auth_headers(self, stream: bool = False) -> Mapping[str, str]:
        return self.stream_headers if stream else self.headers

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        if gm.is_bad_api_key(status, body):  # Google says 400 for a wrong key; it is an auth failure
            status = 401
        return self.upstream_error(status, body, headers, message=gm.error_message(body))

    # --- sending --------------------------------------------------------------------------------

    async def send(self, url: str, body: bytes) -> Any:
        resp = await self.transport.request(
            "POST", url, headers=await self.auth_headers(), body=body, timeout=self.timeout, provider=self.name
        )
        if resp.status >= 300:
            raise self.map_error(resp.status, resp.body, resp.headers)
        return self.answer_json(resp.body)

    async def start_stream(self, url: str, body: bytes) -> UpstreamStream:
        stream = await self.transport.stream(
            "POST", url, headers=await self.auth_headers(stream=True), body=body, timeout=self.timeout, provider=self.name
        )
        if stream.status >= 300:
            try:
                data = await stream.read()
            finally:
                await stream.aclose()
            raise self.map_error(stream.status, data, stream.headers)
        return stream

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
        mapper = gm.StreamMapper(call.model, include_usage, int(time.time()))
        return closing(stream, _relay(stream, mapper), self.name)

    async def embeddings(self, call: Call) -> Reply:
        data = call.data()
        body = _encode(gm.to_embed_request(data, call.model))
        answer = await self.send(self.model_url(call.model, "batchEmbedContents"), body)
        with self.translating:
            return Reply(_encode(gm.to_embeddings(answer, data, call.model)))

    async def list_models(self) -> list[str]:
        """The API's own list (``models/x`` -> ``x``); the configured or catalogued list if that fails."""
        if self.settings.models is not None:
            return await super().list_models()
        try:
            resp = await self.transport.request(
                "GET",
                f"{self.base_url}/models?pageSize=1000",
                headers=await self.auth_headers(),
                timeout=Timeout(total=5.0, connect=self.timeout.connect),
                provider=self.name,
            )
            if resp.status == 200:
                models = _decode(resp.body).get("models") or []
                ids = [m["name"].removeprefix("models/") for m in models if isinstance(m, dict) and isinstance(m.get("name"), str)]
                if ids:
                    return ids
        except Exception:  # a dead or odd provider must never break /v1/models
            log.debug("gemini model list unavailable", exc_info=True)
        return list(self.spec.models)


async def _relay(stream: UpstreamStream, mapper: gm.StreamMapper) -> AsyncIterator[bytes]:
    async for ev in sse_events(stream.chunks()):
        payload = event_json(ev.data, "gemini")
        if payload is not None:
            for out in mapper.feed(payload):
                yield out
    for out in mapper.close():
        yield out


ADAPTER = GeminiProvider
