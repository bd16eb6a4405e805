"""The OpenAI-compatible family: most providers speak OpenAI's wire format already.

Nothing is translated. The request goes out as the client's bytes with only ``model`` rewritten;
the answer (and each stream chunk) comes back as the provider's bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from ..errors import ProviderError
from ..streaming import relay_sse
from ..transports import Timeout
from .base import Call, Provider, Reply, Settings, closing

_STREAM_HEADERS = {"accept": "text/event-stream"}


class OpenAICompatProvider(Provider):
    def __init__(self, settings: Settings, transport) -> None:
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
        if stream.headers.get("content-type", "").startswith("application/json"):
            await stream.aclose()  # the upstream ignored `stream: true`; its body is not SSE
            raise ProviderError(f"{self.name}: upstream answered without streaming", code="upstream_bad_response")
        return closing(stream, relay_sse(stream.chunks()))

    async def embeddings(self, call: Call) -> Reply:
        if "embeddings" not in self.spec.capabilities:
            raise self.unsupported("embeddings")
        resp = await self.post(self.embeddings_url, call.upstream_body())
        return Reply(self._json(resp.body))

    async def list_models(self) -> list[str]:
        """The provider's own /models list; the configured or catalogued list if that fails."""
        if self.settings.models is not None or not self.models_url:
            return await super().list_models()
        try:
            resp = await self.transport.request(
                "GET",
                self.models_url,
                headers=self.headers,
                timeout=Timeout(total=5.0, connect=self.timeout.connect),
                provider=self.name,
            )
            if resp.status == 200:
                data = msgspec.json.decode(resp.body)
                ids = [m["id"] for m in data.get("data", []) if isinstance(m, dict) and isinstance(m.get("id"), str)]
                if ids:
                    return ids
        except Exception:  # a dead or odd provider must never break /v1/models
            pass
        return list(self.spec.models)


ADAPTER = OpenAICompatProvider
