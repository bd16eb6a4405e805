"""``azure_ai/<deployment>``: the Azure AI Foundry Models inference API (see ``azure.py``)."""

from .azure import AzureAIInferenceProvider

ADAPTER = AzureAIInferenceProvider
