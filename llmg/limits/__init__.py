"""Per-key and global limits (rpm, tpm, max_parallel, global_rpm) over a memory or Redis backend.

``install`` wires the gate into an app: the backend opens per worker (a Redis client is bound to
its worker's event loop), the middleware around the handler does the model check and settling.
The auth signal (llmg/auth.py) calls ``Gate.admit``.
"""

from __future__ import annotations

from sanic import HTTPResponse, Request

from ..config import Config
from ..context import App
from .backend import Backend
from .gate import Gate
from .memory import MemoryBackend

__all__ = ["Gate", "install", "open_backend"]


def open_backend(config: Config) -> Backend:
    limits = config.limits
    if limits.backend == "redis":
        from .redis_backend import RedisBackend  # redis-py is only imported when it is used

        return RedisBackend(limits.redis_url, limits.redis_prefix, limits.redis_timeout)
    return MemoryBackend()


def needed(config: Config) -> bool:
    return bool(config.limits.global_rpm) or any(k.rpm or k.tpm or k.max_parallel or k.models != ["*"]
                                                  for k in config.keys.values())


def install(app: App, config: Config) -> None:
    if not needed(config):
        return  # no named key has limits or model rules: nothing on the hot path

    # One gate per app (so per worker); its memory backend lives as long as the app, while a Redis
    # client is bound to an event loop and so is opened with the server and closed with it.
    app.ctx.limits = Gate(
        MemoryBackend(),
        on_error=config.limits.on_backend_error,
        global_rpm=config.limits.global_rpm,
        lease_s=config.server.upstream_timeout + 60,
        aliases=dict(config.aliases),
    )

    if config.limits.backend == "redis":

        @app.before_server_start
        async def open_redis(app: App) -> None:
            backend = open_backend(config)
            await backend.start()  # type: ignore[attr-defined]
            app.ctx.limits.backend = backend

        @app.after_server_stop
        async def close_redis(app: App) -> None:
            await app.ctx.limits.aclose()

    @app.on_request
    async def check_model(request: Request) -> None:
        request.app.ctx.limits.before_handler(request)

    @app.on_response
    async def settle(request: Request, response: HTTPResponse) -> None:
        request.app.ctx.limits.on_response(request, response)
