"""Gateway auth (layer 1): who may call the gateway, and under which key's rules.

One signal handler on ``http.routing.after`` guards every route. It runs after the router has
matched a route but before the body is read, so a rejected client never gets to upload anything.
Routes declared with ``ctx_public=True`` (only ``/health``) skip it.

``[server.auth]`` follows the authentication page's planned behaviour:
  enabled = false          -> no auth at all
  enabled, keys = []       -> any non-empty Bearer token (also the default with no [server.auth])
  enabled, keys = [...]    -> only those keys
Named keys (``[keys.NAME]``) are accepted alongside the plain list and carry limits; when any
named key exists, "any token" mode ends: only configured keys get in. Every comparison is of
SHA-256 digests in constant time (llmg/keys.py). A key that is empty after ``${VAR}`` expansion,
or still holds an unexpanded ``${VAR}``, never matches anything: an unset variable must not turn
into an open door.
"""

from __future__ import annotations

import time
from typing import Any

from sanic import Request
from sanic.models.handler_types import RouteHandler
from sanic_routing import Route

from .config import AuthConfig, Config
from .context import App
from .errors import AuthenticationError, KeyExpired
from .keys import PLAIN, KeyPolicy, KeyRing


class GatewayAuth:
    def __init__(self, config: AuthConfig, named: Config | None = None) -> None:
        self.enabled = config.enabled
        self.ring = KeyRing(config, named.keys if named is not None else {})
        self.any_token = config.enabled and not config.keys and not self.ring.policies
        self.unusable = len(self.ring.unusable)

    def identify(self, authorization: str | None) -> KeyPolicy | None:
        """The caller's key policy (PLAIN for a plain key, any token, or auth off); None = 401."""
        if not self.enabled:
            return PLAIN
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        if self.any_token:
            return PLAIN
        return self.ring.identify(token)

    def allows(self, authorization: str | None) -> bool:
        return self.identify(authorization) is not None


def install(app: App) -> None:
    """Guard every non-public route with the gateway auth of the request's runtime.

    The auth settings live on the reloadable runtime (llmg/runtime.py), so this one handler serves
    every config: a reload that adds a key or turns auth off takes effect for the next request.
    Reading the runtime here also pins it for the rest of the request.
    """
    from .runtime import current

    @app.signal("http.routing.after")
    async def require_gateway_key(request: Request, route: Route, kwargs: dict[str, Any], handler: RouteHandler) -> None:
        if getattr(route.ctx, "public", False):
            return
        authorization = request.headers.get("authorization")
        # --- inbound APIs: the Anthropic SDK sends the gateway key as x-api-key (on /v1/messages only)
        if authorization is None and request.path.startswith("/v1/messages"):
            api_key = request.headers.get("x-api-key")
            authorization = f"Bearer {api_key}" if api_key else None
        # --- end inbound APIs
        ctx = request.ctx  # a property (a Python call): read once
        policy = current(request, ctx).auth.identify(authorization)
        if policy is None:
            raise AuthenticationError()
        if policy.expires_at is not None and time.time() >= policy.expires_at:
            raise KeyExpired()
        ctx.key = policy
        gate = getattr(request.app.ctx, "limits", None)
        if gate is not None and (policy.limited or gate.global_rpm):
            await gate.admit(request, policy)

