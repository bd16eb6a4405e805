"""Asking a provider for its live model list: the one helper every adapter with a list endpoint uses.

The answer only ever refreshes /v1/models (see ``model_directory``), so nothing here may fail
loudly: any trouble — the provider down, a non-200, an odd body, an empty list — falls back to
the one default, the configured list or else the catalogue's (``default_model_ids``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from ..transports import Timeout

if TYPE_CHECKING:
    from .base import Provider

log = logging.getLogger("llmg.providers.models")
LIST_TIMEOUT = 5.0  # seconds; the model directory's own deadline is longer (model_directory.FETCH_TIMEOUT)


def ids_in_data(body: Any) -> list[str]:
    """OpenAI-style ``{"data": [{"id": ...}, ...]}`` (OpenAI-compatible APIs, Anthropic), or a bare
    array of the same objects: Together AI's GET /v1/models answers one (its ``ModelInfoList``)."""
    items = body if isinstance(body, list) else body.get("data") if isinstance(body, dict) else None
    return [m["id"] for m in items or () if isinstance(m, dict) and isinstance(m.get("id"), str)]


async def fetch_model_ids(provider: Provider, url: str | None, headers: Mapping[str, str],
                          ids_of: Callable[[Any], list[str]]) -> list[str]:
    """The ids ``ids_of`` finds in the JSON answer of ``GET url``; the configured list when the
    config names one (it wins over the live list), the catalogue's when the fetch fails."""
    fallback = default_model_ids(provider)
    if provider.settings.models is not None or not url:
        return fallback
    try:
        resp = await provider.transport.request(
            "GET", url, headers=headers, timeout=Timeout(total=LIST_TIMEOUT, connect=provider.timeout.connect),
            provider=provider.name,
        )
        if resp.status == 200:
            ids = ids_of(msgspec.json.decode(resp.body))
            if ids:
                return ids
        else:
            log.debug("model list for %s: upstream answered %s", provider.name, resp.status)
    except Exception:  # a dead or odd provider must never break /v1/models
        log.debug("model list for %s unavailable", provider.name, exc_info=True)
    return fallback


def default_model_ids(provider: Provider) -> list[str]:
    """The configured list, or else the catalogue's: what ``Provider.list_models`` answers."""
    settings = provider.settings
    return list(settings.models if settings.models is not None else provider.spec.models)
