"""The provider catalogue: what every known provider is, as data (``catalogue.toml``).

Each entry says where the provider lives, how it authenticates, which adapter speaks its wire
format, and where its public API reference is. Nothing here does I/O past reading the file once.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Literal

import msgspec

Capability = Literal["chat", "stream", "embeddings"]

CATALOGUE_PATH = Path(__file__).with_name("catalogue.toml")


class ProviderSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # Filled from the table name: the routing prefix clients write before the "/".
    name: str = ""
    display_name: str
    # Module under llmg.providers that serves this wire format (it exposes ADAPTER).
    adapter: str = "openai_compat"
    base_url: str | None = None
    # For per-account endpoints (Azure, Bedrock...): the documented URL shape, e.g.
    # "https://{resource}.openai.azure.com". Shown in the README; base_url stays unset.
    base_url_template: str | None = None
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
    # The day (YYYY-MM-DD) this entry's URLs, auth and model ids were last compared with ``docs``
    # (every catalogue entry has one: tests/providers/test_catalogue.py; custom providers do not).
    checked: str = ""
    # Where the credential may come from, for the README, when it is more than the key variables
    # (cloud credential chains); None -> the env vars and providers.NAME.api_key.
    credentials: str | None = None


LOCAL_HOSTS = ("http://localhost", "http://127.0.0.1")


@cache
def load_catalogue(path: Path = CATALOGUE_PATH) -> dict[str, ProviderSpec]:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    specs = msgspec.convert(raw, dict[str, ProviderSpec])
    for name, spec in specs.items():
        spec.name = name
    return specs


# --- the README provider table ---------------------------------------------------------------

README_START = "<!-- providers:start -->"
README_END = "<!-- providers:end -->"

_AUTH_TEXT = {"bearer": "`Authorization: Bearer`", "none": "none", "custom": "adapter-specific"}


def _auth_text(spec: ProviderSpec) -> str:
    if spec.adapter == "unsupported":
        return "n/a (no request is made)"
    text = _AUTH_TEXT.get(spec.auth, f"`{spec.auth}` header")
    if not spec.key_required and spec.auth == "bearer":
        text += " if a key is set"
    return text


def _serves(spec: ProviderSpec) -> str:
    if spec.adapter == "unsupported":
        return "501 `not_supported`"
    caps = spec.capabilities
    parts = []
    if "chat" in caps:
        parts.append("chat + stream" if "stream" in caps else "chat")
    if "embeddings" in caps:
        parts.append("embeddings")
    return ", ".join(parts) or "-"


def _credentials(name: str, spec: ProviderSpec) -> str:
    if spec.adapter == "unsupported":
        return "none (no request is made)"
    if spec.credentials:
        return spec.credentials
    if not spec.env:
        return "none needed" if not spec.key_required else f"`providers.{name}.api_key`"
    sources = ", ".join(f"`{v}`" for v in spec.env) + f" or `providers.{name}.api_key`"
    return f"{sources} (optional)" if not spec.key_required else sources


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(specs: dict[str, ProviderSpec] | None = None) -> str:
    """The provider table for the README, generated from the catalogue (one row per prefix)."""
    specs = load_catalogue() if specs is None else specs
    lines = [
        f"{len(specs)} provider prefixes (`model: \"<prefix>/<model>\"`). Generated from "
        "`llmg/providers/catalogue.toml` by `llmg providers --write-readme README.md`; do not edit by hand. "
        "*Checked* is the day the entry's URLs, auth and model ids were last compared with its API reference; "
        "model ids are the offline fallback where a provider lists its models live.",
        "",
        "| Prefix | Provider | Adapter | Serves | Default base URL | Auth | Credentials | API reference | Checked |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in sorted(specs):
        spec = specs[name]
        base = spec.base_url or spec.base_url_template or "(built in)"
        docs = f"[docs]({spec.docs})"
        lines.append(
            "| "
            + " | ".join(
                _cell(c)
                for c in (
                    f"`{name}`", spec.display_name, f"`{spec.adapter}`", _serves(spec), f"`{base}`",
                    _auth_text(spec), _credentials(name, spec), docs, spec.checked,
                )
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def replace_readme_section(readme: str, table: str) -> str:
    """``readme`` with the text between the provider markers replaced by ``table``."""
    start = readme.find(README_START)
    end = readme.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {README_START} ... {README_END} markers")
    head = readme[: start + len(README_START)]
    return f"{head}\n{table}{readme[end:]}"


def readme_section(readme: str) -> str:
    """The text currently between the provider markers."""
    start = readme.find(README_START)
    end = readme.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {README_START} ... {README_END} markers")
    return readme[start + len(README_START) : end].removeprefix("\n")
