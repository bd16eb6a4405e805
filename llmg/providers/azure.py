"""Azure OpenAI and Azure AI Foundry Models: OpenAI's wire format at Azure's URLs.

Azure OpenAI (``azure/<model>``)::

    POST {endpoint}/openai/deployments/{deployment}/chat/completions?api-version={v}
    POST {endpoint}/openai/deployments/{deployment}/embeddings?api-version={v}
    api-key: <key>

The deployment is the requested model name, or ``params.deployments[model]`` when the config maps
model names to deployment names (several deployments behind one provider). ``params.api_version``
overrides the default API version; ``api_version = "v1"`` selects Azure's version-less v1 API
(``POST {endpoint}/openai/v1/chat/completions``, the deployment named in the body's ``model``).

Azure AI Foundry Models inference API (``azure_ai/<deployment>``)::

    POST {endpoint}/chat/completions?api-version=2024-05-01-preview   (endpoint = https://<res>.services.ai.azure.com/models)
    api-key: <key>

routes by the body's ``model`` (the deployment name), so it is the OpenAI-compatible relay with
an ``api-version`` query. Bodies and answers pass through as bytes in both cases.

References: https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference and
https://learn.microsoft.com/en-us/azure/ai-foundry/foundry-models/how-to/inference
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from ..config import ConfigError
from ..transports import Transport
from .base import Call, Reply, Settings
from .openai_compat import OpenAICompatProvider

AZURE_OPENAI_API_VERSION = "2024-10-21"  # the latest GA data-plane version
AZURE_AI_API_VERSION = "2024-05-01-preview"  # the Azure AI model inference API version


def _api_version(name: str, params: Mapping[str, Any], default: str) -> str:
    version = params.get("api_version", default)
    if not isinstance(version, str) or not version or not version.replace("-", "").isalnum():
        raise ConfigError(f"providers.{name}.params.api_version: expected a version such as {default!r}")
    return version


def deployment_map(name: str, params: Mapping[str, Any]) -> dict[str, str]:
    deployments = params.get("deployments", {})
    if not isinstance(deployments, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in deployments.items()
    ):
        raise ConfigError(f"providers.{name}.params.deployments: expected a table of model = \"deployment\" strings")
    return dict(deployments)


def azure_openai_url(endpoint: str, deployment: str, operation: str, api_version: str) -> str:
    """``{endpoint}/openai/deployments/{deployment}/{operation}?api-version=...`` (a pure function).

    With ``api_version == "v1"`` it is ``{endpoint}/openai/v1/{operation}``: the v1 API takes the
    deployment from the body instead of the path.
    """
    if api_version == "v1":
        return f"{endpoint}/openai/v1/{operation}"
    return f"{endpoint}/openai/deployments/{quote(deployment, safe='')}/{operation}?api-version={api_version}"


def _endpoint(base_url: str) -> str:
    # Accept the endpoint as the portal shows it and also with the /openai suffix some SDKs use.
    base = base_url.rstrip("/")
    return base[: -len("/openai")] if base.endswith("/openai") else base


class AzureOpenAIProvider(OpenAICompatProvider):
    def __init__(self, settings: Settings, transport: Transport) -> None:
        super().__init__(settings, transport)
        self.endpoint = _endpoint(self.base_url)
        self.api_version = _api_version(self.name, settings.params, AZURE_OPENAI_API_VERSION)
        self.deployments = deployment_map(self.name, settings.params)
        self.models_url = None  # Azure lists base models, not deployments: the configured list is the truth

    def url(self, model: str, operation: str) -> str:
        return azure_openai_url(self.endpoint, self.deployments.get(model, model), operation, self.api_version)

    def body(self, call: Call) -> bytes:
        # The deployment path ignores the body's model; the v1 API routes by it, so map it there.
        deployment = self.deployments.get(call.model, call.model)
        if self.api_version == "v1" and deployment != call.model:
            return replace(call, model=deployment).upstream_body()
        return call.upstream_body()

    async def chat(self, call: Call) -> Reply:
        resp = await self.post(self.url(call.model, "chat/completions"), self.body(call))
        return Reply(self._json(resp.body))

    async def chat_stream(self, call: Call) -> AsyncIterator[bytes]:
        url = self.url(call.model, "chat/completions")
        stream = await self.open_stream(url, self.body(call), self.stream_headers)
        return await self.relay(stream)

    async def embeddings(self, call: Call) -> Reply:
        resp = await self.post(self.url(call.model, "embeddings"), self.body(call))
        return Reply(self._json(resp.body))

    async def list_models(self) -> list[str]:
        if self.settings.models is not None:
            return list(self.settings.models)
        return list(self.deployments) or list(self.spec.models)


class AzureAIInferenceProvider(OpenAICompatProvider):
    def __init__(self, settings: Settings, transport: Transport) -> None:
        super().__init__(settings, transport)
        query = f"?api-version={_api_version(self.name, settings.params, AZURE_AI_API_VERSION)}"
        self.chat_url += query
        self.embeddings_url += query
        self.models_url = None  # the inference API has no model list; GET /info describes one deployment


ADAPTER = AzureOpenAIProvider
