"""Host-header check against DNS rebinding, and the start-up warnings about an exposed gateway.

A gateway bound to a loopback address feels private, but any web page can point a host name it
controls at 127.0.0.1 ("DNS rebinding") and then talk to the gateway from the visitor's browser as
a same-origin site, spending the provider keys. The browser still sends the attacker's name in
``Host``, so a loopback bind serves only ``localhost``, ``127.0.0.1`` and ``[::1]`` (any port) plus
``server.allowed_hosts``; every other Host gets 403 on every route, ``/health`` and CORS preflights
included (nothing a rebinding page can reach is worth leaving open). Other binds serve any Host
unless ``server.allowed_hosts`` is set, which then applies there too. A request without a Host
header is served: browsers always send one, so its absence is never a rebinding page.

The check is one dict lookup per request against a set built at start-up.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sanic import Request
from sanic.models.handler_types import RouteHandler
from sanic_routing import Route

from .config import ServerConfig
from .context import App
from .errors import GatewayError

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


class HostNotAllowed(GatewayError):
    status = 403
    type = "invalid_request_error"

    def __init__(self) -> None:
        super().__init__("Host not allowed: add it to server.allowed_hosts to serve it", code="host_not_allowed")


def is_loopback(host: str) -> bool:
    """True for a bind address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name: treat as reachable from elsewhere


def host_name(header: str) -> str:
    """``Host`` without its port, lower-cased, without a trailing dot: ``[::1]:8080`` -> ``[::1]``."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        name = header[: end + 1] if end != -1 else header
    else:
        name = header.partition(":")[0]
    return name.rstrip(".")


def allowed_names(server: ServerConfig) -> frozenset[str] | None:
    """The Host names served, or None when any Host is (non-loopback bind, no allowed_hosts)."""
    extra = {host_name(h) for h in server.allowed_hosts if h.strip()}
    if not is_loopback(server.host) and not extra:
        return None
    return LOOPBACK_NAMES | extra


def install(app: App, server: ServerConfig) -> None:
    names = allowed_names(server)
    if names is None:
        return  # nothing registered: requests pay nothing
    # Host header as sent -> served or not. Clients send the same one or two values on every
    # request, so the parse is done once per value; the values are the client's, so the memo is
    # bounded (past it, headers are parsed each time, with the same answer).
    verdicts: dict[str, bool] = {}

    @app.signal("http.routing.after")
    async def check_host(request: Request, route: Route, kwargs: dict[str, Any], handler: RouteHandler) -> None:
        header = request.headers.get("host")
        if not header:
            return
        allowed = verdicts.get(header)
        if allowed is None:
            allowed = host_name(header) in names
            if len(verdicts) < 256:
                verdicts[header] = allowed
        if not allowed:
            raise HostNotAllowed()


def exposure_warnings(server: ServerConfig, named_keys: bool = False) -> list[str]:
    """What `serve` logs loudly and `check-config` reports: settings that open the gateway up.
    ``named_keys``: [keys.NAME] tables exist, which end any-token mode."""
    warnings = []
    auth = server.auth
    open_door = ("auth is disabled" if not auth.enabled
                 else "any Bearer token is accepted" if not auth.keys and not named_keys else None)
    if open_door and not is_loopback(server.host):
        warnings.append(
            f"SECURITY: the gateway listens on {server.host}, reachable from other machines, and {open_door}: "
            "anyone who can reach it spends your provider keys. Set [server.auth] keys, or bind to 127.0.0.1."
        )
    if "*" in server.cors_origins:
        warnings.append(
            "SECURITY: server.cors_origins = [\"*\"] lets every web site call the gateway from its visitors' browsers"
            + (f" and {open_door}" if open_door else "")
            + ". List the origins that need it instead."
        )
    return warnings
