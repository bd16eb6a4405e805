"""Inbound APIs other than OpenAI chat: Anthropic Messages, OpenAI Responses, legacy Completions.

Each module turns its API's request into the internal OpenAI chat body, calls the routed provider
through the same ``Provider.chat`` / ``chat_stream`` interface the chat route uses, and turns the
chat answer (or chunk stream) back into its API's format. So N inbound APIs and M providers cost
N + M translators. Where both sides speak the same protocol (Anthropic in and out, Responses or
Completions to a provider that has them) the client's body passes through with only ``model``
rewritten (``native.py``).
"""
