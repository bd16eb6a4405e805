"""Gateway auth (layer 1): who may call the gateway.

One signal handler on ``http.routing.after`` guards every route. It runs after the router has
matched a route but before the body is read, so a rejected client never gets to upload anything.
Routes declared with ``ctx_public=True`` (only ``/health``) skip it.

``[server.auth]`` follows the authentication page's planned behaviour:
  enabled = false          -> no auth at all
  enabled, keys = []       -> any non-empty Bearer token (also the default with no [server.auth])
  enabled, keys = [...]    -> only those keys, compared in constant time
A key that is empty after ``${VAR}`` expansion, or still holds an unexpanded ``${VAR}``, never
matches anything: an unset variable must not turn into an open door.
"""

from __future__ import annotations

import hmac
from sanic import Request, Sanic

from .config import AuthConfig
from .errors import AuthenticationError


class GatewayAuth:
    def __init__(self, config: AuthConfig) -> None:
        self.enabled = config.enabled
        self.any_token = config.enabled and not config.keys
        usable = [key for key in config.keys if key and "${" not in key]
        self.keys: tuple[bytes, ...] = tuple(key.encode() for key in usable)
        self.unusable = len(config.keys) - len(usable)

    def allows(self, authorization: str | None) -> bool:
        if not self.enabled:
            return True
        if not authorization:
            return False
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        if self.any_token:
            return True
        presented = token.encode()
        matched = False
        for key in self.keys:  # no early exit: the time taken does not depend on which key matched
            matched |= hmac.compare_digest(presented, key)
        return matched


def install(app: Sanic) -> None:
    """Guard every non-public route with the gateway auth of the request's runtime.

    The auth settings live on the reloadable runtime (llmg/runtime.py), so this one handler serves
    every config: a reload that adds a key or turns auth off takes effect for the next request.
    Reading the runtime here also pins it for the rest of the request.
    """
    from .runtime import current

    @app.signal("http.routing.after")
    async def require_gateway_key(request: Request, route, kwargs, handler) -> None:
        if getattr(route.ctx, "public", False):
            return
        if not current(request).auth.allows(request.headers.get("authorization")):
            raise AuthenticationError()
