"""Embeddings-only providers (Voyage AI, Jina AI, Infinity): /v1/embeddings passes through,
chat is refused with a 400 that says where to go instead.

Their embeddings APIs take OpenAI's request shape (``model``, ``input``, ``encoding_format``)
and answer OpenAI's ``{"object": "list", "data": [...]}``, so the OpenAI-compatible relay
serves them unchanged; only the refusal is specific.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..errors import InvalidRequest
from .base import Call, Reply
from .openai_compat import OpenAICompatProvider


def chat_refusal(name: str, display_name: str) -> InvalidRequest:
    """The 400 for a chat request to an embeddings-only provider: a pure function."""
    return InvalidRequest(
        f"{name} ({display_name}) serves embeddings only: it has no chat completions API. "
        f"Use POST /v1/embeddings with model '{name}/<model>'.",
        param="model",
        code="model_not_chat_capable",
    )


class EmbeddingsOnlyProvider(OpenAICompatProvider):
    # A fresh exception per refusal: re-raising one shared instance would grow its traceback.
    async def chat(self, call: Call) -> Reply:
        raise chat_refusal(self.name, self.spec.display_name)

    async def chat_stream(self, call: Call) -> AsyncIterator[bytes]:
        raise chat_refusal(self.name, self.spec.display_name)


ADAPTER = EmbeddingsOnlyProvider
