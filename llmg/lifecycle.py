"""A worker's life: readiness, hot reload (SIGHUP) and graceful drain (SIGTERM / Ctrl-C).

- **Ready** once the transport is open and the first runtime (llmg/runtime.py) is built;
  ``/health/ready`` answers 503 before that and from the first moment of a drain.
- **Reload**: SIGHUP re-reads the config file the worker started from, validates it (TOML,
  schema, provider plan) and, only if all of that passes, builds a new runtime and swaps it in
  with one assignment. A file that does not validate is rejected with one log line and the old
  runtime keeps serving. Requests already running keep the runtime they pinned; the old one's
  adapters are closed once they have had ``drain_timeout`` to finish.
  With several workers the main process validates first (one log line, not one per worker) and
  forwards SIGHUP to each worker.
- **Drain**: Sanic stops accepting and waits for open connections up to its graceful timeout,
  which we set to ``drain_timeout`` plus a margin. Each response written during the drain says
  ``connection: close``. Streams still open at ``drain_timeout`` are cut here, on purpose, with an
  error event and ``[DONE]``, so no client sees a stream end without a terminator; a request
  still waiting for a complete answer then gets a 503 envelope (llmg/protocol.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

from sanic import HTTPResponse, Request, Sanic

from . import runtime as rt
from .config import ConfigError, LoadedConfig, load
from .errors import ShuttingDown
from .protocol import cut_waiting
from .providers import registry

log = logging.getLogger("llmg.lifecycle")

# Time after drain_timeout for cut streams to write their last event before Sanic aborts sockets.
CUT_MARGIN = 3.0
BUILT_IN = "built-in default"
# Settings read once when the worker starts; a reload that changes them only logs that it did.
RESTART_ONLY = (
    "host", "port", "workers", "max_body_bytes", "request_timeout", "keep_alive_timeout", "pool_size",
    "backlog", "transport", "access_log", "cors_origins", "pid_file", "debug_stats",
)


class _Stream:
    __slots__ = ("task", "cut")

    def __init__(self, task: asyncio.Task[Any] | None) -> None:
        self.task = task
        self.cut = False


def validate(source: str) -> tuple[LoadedConfig, registry.Plan]:
    """Re-read and check the config the server started from; raises ConfigError."""
    loaded = load(None if source == BUILT_IN else source)
    return loaded, registry.plan(loaded)


class Lifecycle:
    """One per worker, at ``app.ctx.lifecycle``."""

    def __init__(self, app: Sanic[Any, Any], loaded: LoadedConfig) -> None:
        self.app = app
        self.source = loaded.source
        self.started_config = loaded.config
        self.ready = False
        self.draining = False
        self.streams: set[_Stream] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._retiring: set[rt.Runtime] = set()
        self._reload_lock = asyncio.Lock()

    # --- streams ----------------------------------------------------------------------------

    async def track(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Relay ``chunks``, registered as an open stream that a drain may end.

        A drain cuts a stream by cancelling its task; the cancellation surfaces here (the task is
        almost always waiting for the upstream) and becomes a ShuttingDown error, which
        send_stream writes as an error event + [DONE].
        """
        entry = _Stream(asyncio.current_task())
        self.streams.add(entry)
        try:
            async for chunk in chunks:
                yield chunk
        except asyncio.CancelledError:
            if not entry.cut or entry.task is None:
                raise
            entry.task.uncancel()
            raise ShuttingDown(
                "The gateway is restarting and ended this stream after its drain timeout; retry the request",
                code="server_shutting_down",
            ) from None
        finally:
            self.streams.discard(entry)
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    def cut_streams(self) -> int:
        cut = 0
        for entry in list(self.streams):
            if entry.task is not None and not entry.task.done() and not entry.cut:
                entry.cut = True
                entry.task.cancel()
                cut += 1
        return cut

    # --- reload -----------------------------------------------------------------------------

    async def reload(self) -> bool:
        """Validate the config file and swap the runtime; False (and one log line) if invalid."""
        if self.draining:
            return False
        async with self._reload_lock:
            loop = asyncio.get_running_loop()
            try:
                # Reading the file and building the plan touch the disk (credentials files): off the loop.
                loaded, plan = await loop.run_in_executor(None, validate, self.source)
            except ConfigError as exc:
                log.error("reload rejected, the previous config keeps serving: %s", exc)
                return False
            except Exception as exc:  # a bug must not take the worker down with it
                log.error("reload failed, the previous config keeps serving: %s", type(exc).__name__, exc_info=True)
                return False
            # --host/--port/--workers given on the command line still stand (and need a restart anyway).
            for name in ("host", "port", "workers"):
                setattr(loaded.config.server, name, getattr(self.started_config.server, name))
            old: rt.Runtime = self.app.ctx.runtime
            new = rt.build(loaded, plan, self.app.ctx.transport, old.generation + 1)
            self.app.ctx.runtime = new  # the swap: one assignment; new requests pin `new`
            self.app.config.GRACEFUL_SHUTDOWN_TIMEOUT = loaded.config.server.drain_timeout + CUT_MARGIN
            changed = [
                name for name in RESTART_ONLY
                if getattr(loaded.config.server, name) != getattr(self.started_config.server, name)
            ]
            if loaded.config.logging != self.started_config.logging:
                changed.append("logging")
            log.info(
                "config reloaded from %s (generation %d, %d provider(s), %d alias(es))",
                self.source, new.generation, len(new.providers), len(loaded.config.aliases),
            )
            if changed:
                log.warning("reload: changes to %s take effect only after a restart", ", ".join(changed))
            self._retire(old, loaded.config.server.drain_timeout)
            return True

    def _retire(self, old: rt.Runtime, after: float) -> None:
        """Close the replaced runtime once requests that pinned it have had time to finish."""
        self._retiring.add(old)

        async def later() -> None:
            await old.models.stop()  # its background refresh is not needed by anyone
            await asyncio.sleep(after)
            if old in self._retiring:
                self._retiring.discard(old)
                await old.aclose()

        self._spawn(later())

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def on_sighup(self) -> None:
        self._spawn(self.reload())

    # --- start and stop -----------------------------------------------------------------------

    def started(self) -> None:
        self.ready = True
        self.draining = False  # an embedded app (tests) may be started again after a stop
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.on_sighup)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread / not Unix
            log.debug("SIGHUP reload not available in this process")

    def begin_drain(self) -> None:
        """First thing on SIGTERM/SIGINT: not ready any more, and a deadline for open streams."""
        self.ready = False
        self.draining = True
        loop = asyncio.get_running_loop()
        try:
            loop.remove_signal_handler(signal.SIGHUP)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
        timeout = self.app.ctx.runtime.loaded.config.server.drain_timeout
        log.info("draining: %d open stream(s), up to %.0f s", len(self.streams), timeout)

        async def deadline() -> None:
            await asyncio.sleep(timeout)
            cut = self.cut_streams()
            if cut:
                log.warning("drain timeout: ended %d stream(s) with an error event", cut)
            waiting = cut_waiting(lambda: ShuttingDown(
                "The gateway is restarting and could not finish this request within its drain timeout; retry it",
                code="server_shutting_down",
            ))
            if waiting:
                log.warning("drain timeout: answered %d unfinished request(s) with 503", waiting)

        self._spawn(deadline())

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for old in list(self._retiring):
            await old.aclose()
        self._retiring.clear()


def forward_sighup(app: Sanic[Any, Any], source: str) -> None:
    """Main process of a multi-worker server: validate once, then pass SIGHUP to every worker."""

    def handler(signum: int, frame: Any) -> None:
        try:
            validate(source)
        except ConfigError as exc:
            log.error("reload rejected, the previous config keeps serving: %s", exc)
            return
        pids = [p.pid for p in app.manager.transient_processes if p.pid]
        log.info("reload: config valid, signalling %d worker(s)", len(pids))
        for pid in pids:
            try:
                os.kill(pid, signal.SIGHUP)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGHUP, handler)


def debug_stats(request: Request) -> dict[str, Any]:
    lifecycle: Lifecycle = request.app.ctx.lifecycle
    try:
        fds = len(os.listdir("/proc/self/fd"))
    except OSError:
        fds = -1
    return {
        "pid": os.getpid(),
        "fds": fds,
        "tasks": len(asyncio.all_tasks()),
        "streams": len(lifecycle.streams),
        "generation": request.app.ctx.runtime.generation,
        "draining": lifecycle.draining,
    }


def install(app: Sanic[Any, Any], loaded: LoadedConfig) -> Lifecycle:
    """Wire the lifecycle into the app: its own listeners, one response hook, the debug route."""
    from .schemas.openai import encode

    lifecycle = app.ctx.lifecycle = Lifecycle(app, loaded)
    server = loaded.config.server
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = server.drain_timeout + CUT_MARGIN
    # A SIGHUP that arrives before the handler is installed must not kill the process (the
    # default action); it is simply missed.
    try:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    except ValueError:  # not the main thread (an embedded app): no signals for it
        pass

    @app.after_server_start
    async def lifecycle_started(app: Sanic[Any, Any]) -> None:
        lifecycle.started()

    @app.before_server_stop
    async def lifecycle_drain(app: Sanic[Any, Any]) -> None:
        lifecycle.begin_drain()

    @app.main_process_ready
    async def lifecycle_forward(app: Sanic[Any, Any]) -> None:
        if app.state.workers > 1:
            forward_sighup(app, lifecycle.source)

    @app.on_response  # a plain function: no coroutine per response (app.py, tag_request_id)
    def close_while_draining(request: Request, response: HTTPResponse) -> None:
        if lifecycle.draining and request.stream is not None:
            request.stream.keep_alive = False  # type: ignore[attr-defined]

    if server.debug_stats:

        @app.get("/debug/stats", name="debug_stats")
        async def stats(request: Request) -> HTTPResponse:
            return HTTPResponse(encode(debug_stats(request)), content_type="application/json")

    return lifecycle
