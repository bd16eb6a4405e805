"""Logging: one format for every process, the access log, and warnings for upstream failures.

``setup`` runs where an app is built (``cli.build_app`` in every worker, and ``cli.cmd_serve`` in
the single-process case): with ``--workers N`` Sanic spawns fresh interpreters that never run the
CLI's own start-up, so configuring logging only there would lose the workers' lines and format.

The access log is our own (``llmg.access``), not Sanic's: Sanic's formats its line from record
fields that only its own logging config provides, so with ours it printed blank lines.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import sys
import time
from typing import Any

import msgspec
from sanic import HTTPResponse, Request

from .context import App
from .errors import PROVIDER_HEADER, GatewayError
from .request_id import request_id

FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"

access = logging.getLogger("llmg.access")
upstream = logging.getLogger("llmg.upstream")

_configured = False


# --- observe: LLMG_LOG_LEVEL / LLMG_LOG_FORMAT, json lines ---
def effective_level(level: str) -> str:
    return os.environ.get("LLMG_LOG_LEVEL") or level


def effective_format(fmt: str) -> str:
    value = (os.environ.get("LLMG_LOG_FORMAT") or fmt).lower()
    return value if value in ("text", "json") else "text"


_json = msgspec.json.Encoder()


class JsonFormatter(logging.Formatter):
    """One JSON object per line. An access record's fields are the line; any other record is
    time, level, pid, logger and message (the message is already free of keys: see hygiene.py)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        if fields is None:
            fields = {"time": record.created, "level": record.levelname.lower(), "pid": record.process,
                      "logger": record.name, "message": record.getMessage()}
            if record.exc_info:
                fields["exception"] = self.formatException(record.exc_info)
        return _json.encode(fields).decode()


# Access lines are gathered and written together: one os.write per line was the largest single
# cost of the json access log (benchmarks/observe.py). A write never exceeds PIPE_BUF when it can
# help it, so workers sharing one pipe never interleave inside a line; a line waits at most
# ACCESS_FLUSH_S (and is written at worker stop and at exit).
PIPE_BUF = 4096
ACCESS_FLUSH_S = 0.05
_lines = bytearray()
_flush_timer: asyncio.TimerHandle | None = None


def _write(data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(2, view):]
    except OSError:  # stderr closed or full: never fail a request over its log lines
        pass


def flush_access() -> None:
    global _flush_timer
    if _flush_timer is not None:
        _flush_timer.cancel()
        _flush_timer = None
    if _lines:
        _write(_lines)
        _lines.clear()


def access_json(line: Any) -> None:
    """The json access line (llmg/observe builds it: an ``observe.access.AccessLine``), at info
    on llmg.access. Not through logging.Logger.info (a record, the caller's frame, a formatter, a
    flush cost more per request than the rest of metrics and the line together)."""
    global _flush_timer
    if not access.isEnabledFor(logging.INFO):
        return
    before = len(_lines)
    _json.encode_into(line, _lines, -1)
    _lines.append(10)  # \n
    if len(_lines) > PIPE_BUF:  # the write it would take is too long: what was there goes first
        if before:
            with memoryview(_lines) as view:  # released before the bytearray is resized
                _write(view[:before])
            del _lines[:before]
        if len(_lines) > PIPE_BUF // 2:  # a long line (log_bodies) goes alone, at once
            flush_access()
            return
    if _flush_timer is None:
        try:
            _flush_timer = asyncio.get_running_loop().call_later(ACCESS_FLUSH_S, flush_access)
        except RuntimeError:  # no loop (a script, a test calling in directly): now
            flush_access()


def access_json_batch(lines: list[Any]) -> None:
    """A batch of access lines (llmg/observe/batch.py drains its records every BATCH_S): encoded
    into the buffer and written at once, each write whole lines and within PIPE_BUF when it can be."""
    if not access.isEnabledFor(logging.INFO):
        return
    buf = _lines
    encode_into = _json.encode_into
    for line in lines:
        before = len(buf)
        encode_into(line, buf, -1)
        buf.append(10)  # \n
        if len(buf) > PIPE_BUF and before:  # the write it would take is too long: what was there goes first
            with memoryview(buf) as view:  # released before the bytearray is resized
                _write(view[:before])
            del buf[:before]
    flush_access()  # the batch has waited already: no timer of its own


atexit.register(flush_access)
# --- end observe ---


def setup(level: str, fmt: str = "text") -> None:
    """Configure the root logger once per process (stderr, one format); later calls only set the level.
    LLMG_LOG_LEVEL and LLMG_LOG_FORMAT override the config's level and format."""
    global _configured
    numeric = getattr(logging, effective_level(level).upper(), logging.INFO)
    root = logging.getLogger()
    if not _configured:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter() if effective_format(fmt) == "json" else logging.Formatter(FORMAT))
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
