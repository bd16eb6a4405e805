"""Logging: one format for every process, the access log, and warnings for upstream failures.

``setup`` runs where an app is built (``cli.build_app`` in every worker, and ``cli.cmd_serve`` in
the single-process case): with ``--workers N`` Sanic spawns fresh interpreters that never run the
CLI's own start-up, so configuring logging only there would lose the workers' lines and format.

The access log is our own (``llmg.access``), not Sanic's: Sanic's formats its line from record
fields that only its own logging config provides, so with ours it printed blank lines.
"""

from __future__ import annotations

import logging
import sys
import time

from sanic import HTTPResponse, Request

from .context import App
from .errors import PROVIDER_HEADER, GatewayError
from .request_id import request_id

FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"

access = logging.getLogger("llmg.access")
upstream = logging.getLogger("llmg.upstream")

_configured = False


def setup(level: str) -> None:
    """Configure the root logger once per process (stderr, one format); later calls only set the level."""
    global _configured
    numeric = getattr(logging, level.upper(), logging.INFO)
    root = logging.getLogger()
    if not _configured:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
        # Sanic's own loggers carry handlers only when Sanic configures logging, which we turn off;
        # without a level of their own they follow ours.
        _configured = True
    root.setLevel(numeric)
    # Sanic's access logger is replaced by ours (see install_access_log); keep it quiet.
    logging.getLogger("sanic.access").setLevel(logging.WARNING)


def install_access_log(app: App) -> None:
    """One line per request: method, path, status, latency, provider, request id.

    Installed only when ``server.access_log`` is on, so the default hot path pays nothing. The
    latency runs from the moment Sanic had the request head (its HTTP/1 ``perft0``, set for every
    request, including ones auth turns away before any middleware runs) to the start of the
    response (for a stream: its headers).
    """

    @app.on_response(priority=-1000)
    async def _access_line(request: Request, response: HTTPResponse) -> None:
        started = getattr(request.stream, "perft0", None)
        access.info(
            "%s %s %d %sms provider=%s request_id=%s",
            request.method,
            request.path,
            response.status,
            f"{(time.perf_counter() - started) * 1000:.1f}" if started is not None else "-",
            getattr(request.ctx, "provider", "-"),
            request_id(request),
        )


# Errors that come from a provider (its answer, its timeout, its unreachability), not from the
# client's request: worth a warning, because the operator can act on them.
_UPSTREAM_CODES = frozenset(
    {"upstream_error", "provider_auth_failed", "rate_limit_exceeded", "upstream_bad_response", "stream_error"}
)


def is_upstream_failure(exc: GatewayError) -> bool:
    # errors.from_upstream names the provider in a header on every error a provider answered,
    # whatever code it kept (the upstream's own, since the fidelity work).
    return PROVIDER_HEADER in exc.headers or exc.code in _UPSTREAM_CODES or exc.status in (502, 503, 504)


def upstream_failure(request: Request, exc: GatewayError) -> None:
    """Log a provider failure at warning. The message is the client-facing one, which the error
    mapping has already stripped of keys; the key itself is never at hand here."""
    if not is_upstream_failure(exc):
        return
    upstream.warning(
        "upstream failure: %s %s -> %d %s provider=%s request_id=%s: %s",
        request.method,
        request.path,
        exc.status,
        exc.code or exc.type,
        getattr(request.ctx, "provider", "-"),
        request_id(request),
        exc.message,
    )
