"""The app factory: one Sanic app per worker, built from a validated config.

Per-worker resources live on ``app.ctx``: the upstream transport, and the reloadable runtime
(provider adapters, auth, aliases, the model directory: llmg/runtime.py), opened in
``before_server_start`` and closed in ``after_server_stop``. Readiness, reload and drain are
llmg/lifecycle.py's.
"""

from __future__ import annotations

import itertools
import logging

from sanic import HTTPResponse, Request
from sanic.exceptions import SanicException

from . import auth, cors, errors, hosts, lifecycle, limits, logs, observe, runtime
from .config import LoadedConfig
from .context import App, AppContext
from .inbound import anthropic as inbound_anthropic
from .inbound import store as response_store
from .providers import registry
from .request_id import request_id
from .response import Response
from .routes import group
from .signal_dispatch import GatewaySanic
from .transports import open_configured, response_timeout

log = logging.getLogger("llmg")

_names = itertools.count()


def _error_response(exc: errors.GatewayError, path: str = "") -> HTTPResponse:
    # Inbound APIs answer errors in their own shape (Anthropic's on /v1/messages), 401 included.
    body = inbound_anthropic.error_body(exc) if inbound_anthropic.is_anthropic_route(path) else exc.body()
    return Response(body, status=exc.status, headers=exc.headers or None, content_type="application/json")


def handle_error(request: Request, exception: BaseException) -> HTTPResponse:
    """Every exception becomes the OpenAI envelope; only unexpected ones are logged with a traceback."""
    if isinstance(exception, errors.GatewayError):
        # --- newcomer: say why a provider is unknown; log provider failures (never a key) ---
        if isinstance(exception, errors.UnknownProvider):
            exception = exception.explained(request.app.ctx.plan.skipped)
        request.ctx.error = exception  # observe: the error type for metrics and the access line
        logs.upstream_failure(request, exception)
        # --- end newcomer ---
        return _error_response(exception, request.path)
    if isinstance(exception, SanicException):
        status = getattr(exception, "status_code", 500) or 500
        if status == 413 and "header" in str(exception):  # Sanic reports oversized headers as 413
            status = 431
        mapped = errors.from_status(status, str(exception) if status == 400 else None)
        response = _error_response(mapped, request.path)
        if status == 405 and getattr(exception, "headers", None):
            allow = exception.headers.get("Allow") or exception.headers.get("allow")
            if allow:
                response.headers["allow"] = allow
        return response
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exception)
    return _error_response(errors.GatewayError("Internal server error", status=500, type="internal_error"), request.path)


def create_app(loaded: LoadedConfig, plan: registry.Plan | None = None, name: str | None = None) -> App:
    config = loaded.config
    server = config.server
    resolved = plan if plan is not None else registry.plan(loaded)
    # GatewaySanic: Sanic with the per-request auth signal dispatched cheaply (signal_dispatch.py).
    app = GatewaySanic(name or f"llmg{next(_names)}", ctx=AppContext(), configure_logging=False)
    app.config.update(
        REQUEST_MAX_SIZE=server.max_body_bytes,
        REQUEST_TIMEOUT=server.request_timeout,
        KEEP_ALIVE_TIMEOUT=server.keep_alive_timeout,
        # Long generations and streams are bounded by the upstream timeouts, not by Sanic's.
        RESPONSE_TIMEOUT=response_timeout(config),
        ACCESS_LOG=False,  # Sanic's access line is blank without its logging config: ours is logs.py's
        NOISY_EXCEPTIONS=False,
        FALLBACK_ERROR_FORMAT="json",
        MOTD=False,
    )
    # The config as started; what requests use is app.ctx.runtime, which a reload replaces.
    app.ctx.loaded = loaded
    app.ctx.plan = resolved
    app.blueprint(group)
    hosts.install(app, server)  # DNS rebinding: first, so a foreign Host learns nothing else
    cors.install(app, server.cors_origins)
    app.error_handler.add(Exception, handle_error)
    auth.install(app)
    if server.auth.enabled:
        limits.install(app, config)  # [keys.NAME] limits and [limits]; nothing when none are set (restart to change)
    if server.access_log and logs.effective_format(config.logging.format) == "text":
        logs.install_access_log(app)
    observe.install(app, config)  # metrics, json access line, traces: nothing unless configured
    lifecycle.install(app, loaded)
    # The Responses store: per-worker memory, or the limits backend's Redis (restart to change).
    response_store.install(app, config)

    # Response middleware that awaits nothing is a plain function: Sanic calls it without
    # building and awaiting a coroutine (every response passes through here).
    observer = getattr(app.ctx, "observer", None)
    if observer is None:
        @app.on_response
        def tag_request_id(request: Request, response: HTTPResponse) -> None:
            response.headers["x-request-id"] = request_id(request)
    else:
        # The observer's finish in this same middleware, not one of its own (each Sanic middleware
        # costs two signal dispatches per request: llmg/observe install). Last (-500), after the
        # others have set their headers and the limits gate has settled; before the text access line.
        observed = observer.on_response

        @app.on_response(priority=-500)  # type: ignore[no-untyped-call]
        def tag_request_id_and_observe(request: Request, response: HTTPResponse) -> None:
            response.headers["x-request-id"] = request_id(request)
            observed(request, response)

    @app.before_server_start
    async def open_resources(app: App) -> None:
        app.ctx.transport = observe.wrap_transport(app, open_configured(config))  # upstream time and spans
        # Everything reloadable hangs off one runtime object; a reload replaces it whole.
        app.ctx.runtime = runtime.build(loaded, resolved, app.ctx.transport, generation=1)

    @app.after_server_stop
    async def close_resources(app: App) -> None:
        await app.ctx.lifecycle.close()
        await app.ctx.runtime.aclose()
        await app.ctx.transport.aclose()

    return app
