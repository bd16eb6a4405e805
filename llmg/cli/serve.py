"""``llmg serve``: validate everything that can be validated, then hand over to Sanic."""

from __future__ import annotations

import argparse
import logging
import sys
from functools import partial
from typing import Any

from sanic import Sanic

from .. import __version__, logs
from ..config import ConfigError, LoadedConfig, load
from ..context import App
from ..providers import registry
from . import checks
from .reload import pid_file

log = logging.getLogger("llmg")


def _load(path: str | None, host: str | None = None, port: int | None = None, workers: int | None = None) -> LoadedConfig:
    loaded = load(path)
    server = loaded.config.server
    if host is not None:
        server.host = host
    if port is not None:
        server.port = port
    if workers is not None:
        server.workers = workers
    return loaded


def build_app(path: str | None, host: str | None, port: int | None, workers: int | None) -> App:
    """Factory used by every worker process: each loads the config and sets up logging itself,
    because a spawned worker never runs cmd_serve."""
    from ..app import create_app

    loaded = _load(path, host, port, workers)
    logs.setup(loaded.config.logging.level, loaded.config.logging.format)
    return create_app(loaded, name="llmg")


def _fail(message: str) -> int:
    print(f"llmg: {message}", file=sys.stderr)
    return 2


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        loaded = _load(args.config, args.host, args.port, args.workers)
        plan = registry.plan(loaded)
    except ConfigError as exc:
        return _fail(str(exc))
    server = loaded.config.server
    problem = checks.auth_problem(loaded) or checks.bind_problem(server.host, server.port)
    if problem:
        return _fail(problem)
    logs.setup(loaded.config.logging.level, loaded.config.logging.format)
    for warning in checks.warnings(loaded, plan):
        log.warning("%s", warning)
    log.info(
        "llmg %s serving on http://%s:%d (%d worker%s, config: %s, providers: %s)",
        __version__, server.host, server.port, server.workers, "" if server.workers == 1 else "s",
        loaded.source, ", ".join(sorted(plan.registered)) or "none",
    )
    # access_log=False: Sanic's own access line is blank under our logging (logs.py writes ours).
    run_options: dict[str, Any] = dict(host=server.host, port=server.port, access_log=False, motd=False, backlog=server.backlog)
    from ..protocol import GatewayHttpProtocol  # request_timeout bounds the whole request (slow-loris)

    run_options["protocol"] = GatewayHttpProtocol
    with pid_file(args.pid_file or server.pid_file):
        return _run(args, loaded, plan, run_options)


def _run(args: argparse.Namespace, loaded: LoadedConfig, plan: registry.Plan, run_options: dict[str, Any]) -> int:
    from sanic.worker.loader import AppLoader

    server = loaded.config.server
    if server.workers == 1:
        from ..accept import Acceptor, listening_socket
        from ..app import create_app
        from ..protocol import GatewayHttpProtocol

        app = create_app(loaded, plan, name="llmg")
        # The worker owns its listening socket, so that it can take a burst of connections at once.
        sock = listening_socket(server.host, server.port, server.backlog)
        GatewayHttpProtocol.acceptor = Acceptor(sock)
        app.run(single_process=True, sock=sock, **run_options)
        return 0
    if loaded.config.metrics.enabled:  # --- observe: every worker writes its metrics where a scrape sums them
        from ..observe.metrics import prepare_multiprocess

        prepare_multiprocess()
    loader = AppLoader(factory=partial(build_app, args.config, args.host, args.port, args.workers))
    app = loader.load()
    app.prepare(workers=server.workers, **run_options)
    Sanic.serve(primary=app, app_loader=loader)
    return 0
