"""HTTP routes. Each module is thin: decode, route, call the provider, respond."""

from sanic import Blueprint

from . import chat, embeddings, health, key, models, openapi

group = Blueprint.group(health.bp, models.bp, chat.bp, embeddings.bp, openapi.bp, key.bp)
