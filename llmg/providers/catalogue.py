"""The provider catalogue: what every known provider is, as data (``catalogue.toml``).

Each entry says where the provider lives, how it authenticates, which adapter speaks its wire
format, and where its public API reference is. Nothing here does I/O past reading the file once.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path
from typing import Literal

import msgspec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

Capability = Literal["chat", "stream", "embeddings"]

CATALOGUE_PATH = Path(__file__).with_name("catalogue.toml")


class ProviderSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # Filled from the table name: the routing prefix clients write before the "/".
    name: str = ""
    display_name: str
    # Module under llmg.providers that serves this wire format (it exposes ADAPTER).
    adapter: str = "openai_compat"
    base_url: str | None = None
    # Environment variables holding the key, first set wins (the original's name and the docs' name).
    env: list[str] = []
    # Environment variables that override base_url (local servers, self-hosted endpoints).
    base_url_env: list[str] = []
    # "bearer" -> Authorization: Bearer <key>; "none"; "custom" (the adapter signs requests itself);
    # anything else is the name of the header that carries the raw key (x-api-key, api-key, ...).
    auth: str = "bearer"
    key_required: bool = True
    capabilities: list[Capability] = msgspec.field(default_factory=lambda: ["chat", "stream"])
    # Headers sent on every request; values may use ${VAR} (expanded at start-up, unset -> header dropped).
    headers: dict[str, str] = {}
    # Known model ids, listed by /v1/models when the provider has no models endpoint.
    models: list[str] = []
    # Path (relative to base_url) of an OpenAI-style model list, if the provider has one.
    models_endpoint: str | None = None
    # The provider's own public API reference this entry was checked against.
    docs: str
    # Where a provider has no chat API: what it does offer (shown in the 501 message).
    offers: str | None = None
    notes: str | None = None


@cache
def load_catalogue(path: Path = CATALOGUE_PATH) -> dict[str, ProviderSpec]:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    specs = msgspec.convert(raw, dict[str, ProviderSpec])
    for name, spec in specs.items():
        spec.name = name
    return specs
