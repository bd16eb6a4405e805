"""The OpenAI-compatible family: most providers speak OpenAI's wire format already.

Nothing is translated. The request goes out as the client's bytes with only ``model`` rewritten;
the answer (and each stream chunk) comes back as the provider's bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..errors import ProviderError
from ..sse import relay_sse
from ..transports import Transport, UpstreamStream
from .base import Call, Provider, Reply, Settings, closing
from .model_ids import fetch_model_ids, ids_in_data
from .translate import require_event_stream

_STREAM_HEADERS = {"accept": "text/event-stream"}


class OpenAICompatProvider(Provider):
    def __init__(self, settings: Settings, transport: Transport) -> None:
        super().__init__(settings, transport)
        self.chat_url = f"{self.base_url}/chat/completions"
        self.embeddings_url = f"{self.base_url}/embeddings"
        self.stream_headers = {**self.headers, **_STREAM_HEADERS}
        endpoint = settings.spec.models_endpoint
        self.models_url = f"{self.base_url}{endpoint}" if endpoint else None

    def _json(self, body: bytes) -> bytes:
        # Relayed unparsed, so check the one thing that is cheap to check: a 200 carrying an HTML
        # page (a proxy, a captive portal) must not reach the client as a "completion".
        if body[:1] != b"{" and body.lstrip()[:1] != b"{":
            raise ProviderError(f"{self.name}: upstream returned a non-JSON answer", code="upstream_bad_response")
        return body

    async def chat(self, call: Call) -> Reply:
        resp = await self.post(self.chat_url, call.upstream_body())
        return Reply(self._json(resp.body))

    async def chat_stream(self, call: Call) -> AsyncIterator[bytes]:
        stream = await self.open_stream(self.chat_url, call.upstream_body(), self.stream_headers)
        return await self.relay(stream)

    async def relay(self, stream: UpstreamStream) -> AsyncIterator[bytes]:
        """An OpenAI-format stream, checked to be one, passed through (``[DONE]`` added if missing)."""
        await require_event_stream(stream, self.name)
        return closing(stream, relay_sse(stream.chunks()))

    async def embeddings(self, call: Call) -> Reply:
        if "embeddings" not in self.spec.capabilities:
            raise self.unsupported("embeddings")
        resp = await self.post(self.embeddings_url, call.upstream_body())
        return Reply(self._json(resp.body))

    async def list_models(self) -> list[str]:
        """The provider's own /models list; the configured or catalogued list if that fails."""
        return await fetch_model_ids(self, self.models_url, self.headers, ids_in_data)


ADAPTER = OpenAICompatProvider
