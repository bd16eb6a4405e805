"""Providers the gateway can route to but not serve: services with no chat API, or gone.

The original LLMG registered these (ElevenLabs, Stability, Deepgram, a vector database, services
that were shut down...) as if they were chat providers. Here they stay routable so that
``elevenlabs/...`` gets a precise answer instead of "unknown provider": every call is a 501
``not_supported`` naming what the service does offer (``ProviderSpec.offers``). No request ever
leaves the gateway, so no key is ever sent anywhere.
"""

from __future__ import annotations

from ..errors import GatewayError, NotSupported
from .base import Provider


def refusal(name: str, display_name: str, offers: str | None, what: str) -> NotSupported:
    """The 501 for ``what`` (e.g. "chat completions") on provider ``name``: a pure function."""
    offered = offers or "no API that LLMG can translate"
    return NotSupported(
        f"{name} ({display_name}) cannot serve {what}: it offers {offered}.",
        param="model",
        code="not_supported",
    )


class UnsupportedProvider(Provider):
    """Every route answers 501; the model list is empty (there is nothing to call)."""

    def unsupported(self, what: str) -> GatewayError:
        return refusal(self.name, self.spec.display_name, self.spec.offers, what)

    async def list_models(self) -> list[str]:
        return []


ADAPTER = UnsupportedProvider
