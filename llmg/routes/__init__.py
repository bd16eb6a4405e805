"""HTTP routes. Each module is thin: decode, route, call the provider, respond."""

from sanic import Blueprint

from . import chat, completions, embeddings, health, messages, models, openapi, responses

group = Blueprint.group(health.bp, models.bp, chat.bp, embeddings.bp, openapi.bp,
                        messages.bp, responses.bp, completions.bp)  # inbound APIs
