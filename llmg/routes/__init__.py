"""HTTP routes. Each module is thin: decode, route, call the provider, respond."""

from sanic import Blueprint

from . import chat, completions, embeddings, health, key, messages, models, openapi, responses

group = Blueprint.group(health.bp, models.bp, chat.bp, embeddings.bp, openapi.bp, key.bp,
                        messages.bp, responses.bp, completions.bp)  # messages, responses, completions: inbound APIs
