"""Same protocol on both sides: which providers take a client's body as it is, and forwarding it.

Anthropic Messages -> the Anthropic adapter; Responses -> OpenAI itself; legacy Completions ->
OpenAI-compatible providers known to serve ``/completions``. The body is the client's bytes with
only ``model`` rewritten, so nothing the client sent is lost in a round trip through chat.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import msgspec
from sanic import Request

from ..errors import GatewayError
from ..providers.anthropic import AnthropicProvider
from ..providers.base import Call, Provider, closing
from ..providers.openai_compat import OpenAICompatProvider
from ..runtime import current

# Catalogue entries whose API serves the legacy /completions endpoint (each provider's own docs).
COMPLETIONS_PROVIDERS = frozenset({
    "openai", "together_ai", "fireworks_ai", "deepinfra", "openrouter", "vllm", "ollama", "lm_studio",
    "llamafile", "litellm_proxy", "custom_llm_server",
})


class ModelOnly(msgspec.Struct):
    """What ``Call.upstream_body`` needs of a body that is forwarded unparsed."""

    model: str


def anthropic_native(provider: Provider) -> bool:
    return isinstance(provider, AnthropicProvider)


def responses_native(provider: Provider) -> bool:
    return isinstance(provider, OpenAICompatProvider) and provider.spec.name == "openai"


def completions_native(provider: Provider) -> bool:
    return isinstance(provider, OpenAICompatProvider) and provider.spec.name in COMPLETIONS_PROVIDERS


def model_of(raw: bytes) -> str | None:
    """The ``model`` of a body that failed the strict decode, to see whether it goes native."""
    try:
        data = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    model = data.get("model") if isinstance(data, dict) else None
    return model if isinstance(model, str) and model else None


def try_resolve(request: Request, raw: bytes) -> tuple[Provider, str, str] | None:
    """Where a body that failed the strict decode would go; None if its model does not route (then
    the client gets the decode's 400, not a routing error about a body that was invalid anyway)."""
    model = model_of(raw)
    if model is None:
        return None
    try:
        return current(request).resolver.resolve(model)
    except GatewayError:
        return None


async def post(provider: Provider, url: str, call: Call, headers: Mapping[str, str] | None = None) -> bytes:
    """A native answer's bytes (non-2xx statuses become the mapped GatewayError)."""
    resp = await provider.post(url, call.upstream_body(), headers)
    return resp.body


async def stream(provider: Provider, url: str, call: Call, headers: Mapping[str, str]) -> AsyncIterator[bytes]:
    """A native stream, relayed byte for byte."""
    upstream = await provider.open_stream(url, call.upstream_body(), headers)
    return closing(upstream, upstream.chunks())
