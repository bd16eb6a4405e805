"""CORS for browser clients: off unless ``server.cors_origins`` lists origins (or ``"*"``).

When on, every route also answers the browser's preflight (``OPTIONS``, public like /health:
browsers send preflights without credentials), and responses to an allowed ``Origin`` carry
``access-control-allow-origin``. Tokens travel in the Authorization header, never in cookies, so
credentials mode is not enabled. When off, nothing is registered and requests pay nothing.
"""

from __future__ import annotations

from collections import defaultdict

from sanic import HTTPResponse, Request

from .context import App

_ALLOWED_HEADERS = "authorization, content-type, x-request-id"
_EXPOSED_HEADERS = "x-request-id, retry-after, x-llmg-deployment, x-llmg-attempts"  # the last two: routing groups
_MAX_AGE = "600"


def install(app: App, origins: list[str]) -> None:
    if not origins:
        return
    any_origin = "*" in origins
    allowed = frozenset(origins)

    def allow(origin: str | None) -> str | None:
        if not origin:
            return None
        if any_origin:
            return "*"
        return origin if origin in allowed else None

    methods_by_path: dict[str, set[str]] = defaultdict(set)
    for route in app.router.routes:
        methods_by_path[route.path].update(route.methods)

    for path, methods in methods_by_path.items():
        allow_methods = ", ".join(sorted(methods | {"OPTIONS"}))

        async def preflight(request: Request, allow_methods: str = allow_methods, **_: str) -> HTTPResponse:
            headers = {"access-control-allow-methods": allow_methods, "access-control-max-age": _MAX_AGE,
                       "access-control-allow-headers": _ALLOWED_HEADERS, "vary": "origin"}
            origin = allow(request.headers.get("origin"))
            if origin:
                headers["access-control-allow-origin"] = origin
            return HTTPResponse(status=204, headers=headers)

        app.add_route(preflight, "/" + path.lstrip("/"), methods=["OPTIONS"], name=f"cors_preflight_{len(app.router.routes)}", ctx_public=True)

    @app.on_response  # a plain function: no coroutine per response (app.py, tag_request_id)
    def cors_headers(request: Request, response: HTTPResponse) -> None:
        origin = allow(request.headers.get("origin"))
        if origin and "access-control-allow-origin" not in response.headers:
            response.headers["access-control-allow-origin"] = origin
            response.headers["access-control-expose-headers"] = _EXPOSED_HEADERS
            response.headers["vary"] = "origin"
