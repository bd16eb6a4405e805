"""Typed ``app.ctx``: what the app factory and the middleware put on a Sanic app's context.

Sanic types ``app.ctx`` as ``SimpleNamespace`` (every attribute ``Any``) unless the app is built
with a context object of its own. ``AppContext`` names each attribute and its type, so mypy checks
``request.app.ctx.resolver.resolve(...)`` like any other call. It stays a ``SimpleNamespace``: an
attribute set somewhere without a declaration here still works (it is just untyped).

A handler's plain ``Request`` still types ``request.app`` as a ``SimpleNamespace`` app (Sanic's
Request is invariant in its app type, so a typed Request would not pass where a plain one is
expected): ``app_context(request)`` gives the typed view.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, TypeAlias

from sanic import Request, Sanic
from sanic.config import Config

if TYPE_CHECKING:
    from .config import LoadedConfig
    from .inbound.store import ResponseStore
    from .lifecycle import Lifecycle
    from .limits.gate import Gate
    from .providers.registry import Plan
    from .runtime import Runtime
    from .transports import Transport


class AppContext(SimpleNamespace):
    loaded: LoadedConfig  # the config as started (a reload swaps `runtime`, not this)
    plan: Plan
    lifecycle: Lifecycle
    # Opened with the server (before_server_start), closed after it stops:
    transport: Transport
    # Config, auth, adapters, resolver, model list: swapped whole on reload; a request reads the one
    # it started with through runtime.current(request).
    runtime: Runtime
    # Only when installed: read them with getattr(ctx, name, None).
    limits: Gate
    response_store: ResponseStore


App: TypeAlias = "Sanic[Config, AppContext]"


def app_context(request: Request) -> AppContext:
    """The request's app context, typed: create_app builds every app with an ``AppContext``."""
    # Not typing.cast: it is a Python-level call per request, and the annotation types it the same.
    ctx: AppContext = request.app.ctx  # type: ignore[assignment]
    return ctx
