"""``model`` string -> a group, or (provider, upstream model id).

A configured group name (``[groups.NAME]``) is looked up first: routes check ``groups`` before
calling ``resolve``, and with no groups configured that costs one test of an empty dict.
Aliases apply next (exact match, one level); then the model splits at the first ``/``, so
``openrouter/openai/gpt-4o`` goes to openrouter as ``openai/gpt-4o``. The provider name is only
ever a dictionary key here: it is never put into a URL or a header, so odd characters in it cannot
change where a request goes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..errors import InvalidRequest, UnknownProvider
from ..providers.base import Provider

if TYPE_CHECKING:
    from .group import Group


# Model ids seen in the wild: "gpt-4o", "openai/gpt-4o:free", "anthropic.claude-3-5-sonnet-20240620-v1:0",
# "accounts/fireworks/models/llama-v3p1-8b-instruct", "llama3:8b", "meta-llama/Llama-3.1-8B-Instruct@rev".
# Anything else (spaces, ?, #, %, CR/LF, quotes, non-ASCII, "..") is refused before it can reach a URL.
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+\-]*(/[A-Za-z0-9][A-Za-z0-9._:@+\-]*)*")
# Resolutions remembered per resolver (a reload builds a new one): a client sends the same few
# model names over and over, and the alias lookup, split and id check are then one dict hit. The
# names are the client's, so the memo is bounded; only successful resolutions are kept.
_MEMO_MAX = 256


class ModelResolver:
    """Resolves the client's ``model`` (named so as not to be confused with Sanic's ``app.router``)."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        aliases: Mapping[str, str],
        groups: Mapping[str, Group] | None = None,
    ) -> None:
        self.providers = dict(providers)
        self.aliases = dict(aliases)
        self.groups: dict[str, Group] = dict(groups or {})
        self._memo: dict[str, tuple[Provider, str, str]] = {}

    def resolve(self, model: str) -> tuple[Provider, str, str]:
        """(provider, upstream model, the full "provider/model" after aliasing)."""
        found = self._memo.get(model)
        if found is None:
            found = self._resolve(model)
            if len(self._memo) < _MEMO_MAX:
                self._memo[model] = found
        return found

    def _resolve(self, model: str) -> tuple[Provider, str, str]:
        model = self.aliases.get(model, model)
        prefix, slash, rest = model.partition("/")
        if not slash:
            raise InvalidRequest(
                "Model must be in format 'provider/model'", param="model", code="invalid_model"
            )
        if not prefix or not rest:
            raise InvalidRequest("Provider and model name cannot be empty", param="model", code="invalid_model")
        provider = self.providers.get(prefix)
        if provider is None:
            raise UnknownProvider(prefix)
        if _MODEL_ID.fullmatch(rest) is None or ".." in rest:
            raise InvalidRequest(
                "Invalid model name: use letters, digits and . _ - : @ + / only",
                param="model",
                code="invalid_model",
            )
        return provider, rest, model
