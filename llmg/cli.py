"""``llmg serve | check-config``: the command line."""

from __future__ import annotations

import argparse
import os
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from . import __version__
from .config import ConfigError, LoadedConfig, load
from .providers import registry

log = logging.getLogger("llmg")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


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


def build_app(path: str | None, host: str | None, port: int | None, workers: int | None):
    """Factory used by every worker process: each loads the config itself."""
    from .app import create_app

    loaded = _load(path, host, port, workers)
    return create_app(loaded, name="llmg")


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        loaded = _load(args.config, args.host, args.port, args.workers)
        plan = registry.plan(loaded)
    except ConfigError as exc:
        print(f"llmg: {exc}", file=sys.stderr)
        return 2
    _setup_logging(loaded.config.logging.level)
    for warning in loaded.warnings + plan.warnings:
        log.warning("%s", warning)
    server = loaded.config.server
    log.info(
        "llmg %s serving on http://%s:%d (%d worker%s, config: %s, providers: %s)",
        __version__, server.host, server.port, server.workers, "" if server.workers == 1 else "s",
        loaded.source, ", ".join(sorted(plan.registered)) or "none",
    )
    run_options = dict(host=server.host, port=server.port, access_log=server.access_log, motd=False, backlog=server.backlog)
    from .protocol import GatewayHttpProtocol  # request_timeout bounds the whole request (slow-loris)

    run_options["protocol"] = GatewayHttpProtocol
    with pid_file(args.pid_file or server.pid_file):
        return _run(args, loaded, plan, run_options)


def _run(args: argparse.Namespace, loaded: LoadedConfig, plan: registry.Plan, run_options: dict) -> int:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    server = loaded.config.server
    if server.workers == 1:
        from .app import create_app

        app = create_app(loaded, plan, name="llmg")
        app.run(single_process=True, **run_options)
        return 0
    loader = AppLoader(factory=partial(build_app, args.config, args.host, args.port, args.workers))
    app = loader.load()
    app.prepare(workers=server.workers, **run_options)
    Sanic.serve(primary=app, app_loader=loader)
    return 0


# --- lifecycle: pid file and `llmg reload` (llmg/lifecycle.py) ---------------------------------


@contextmanager
def pid_file(path: str) -> Iterator[None]:
    """Write our pid to ``path`` (if set) for `llmg reload`, and remove it when the server exits."""
    if not path:
        yield
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"{os.getpid()}\n", encoding="ascii")
    try:
        yield
    finally:
        try:
            if target.read_text(encoding="ascii").strip() == str(os.getpid()):
                target.unlink()
        except OSError:
            pass


def cmd_reload(args: argparse.Namespace) -> int:
    """Send SIGHUP to the server named by --pid-file, or by server.pid_file of --config."""
    path = args.pid_file
    if not path:
        try:
            path = load(args.config).config.server.pid_file
        except ConfigError as exc:
            print(f"llmg: {exc}", file=sys.stderr)
            return 2
    if not path:
        print("llmg: no pid file: pass --pid-file, or set server.pid_file in the config", file=sys.stderr)
        return 2
    try:
        pid = int(Path(path).read_text(encoding="ascii").strip())
        os.kill(pid, signal.SIGHUP)
    except FileNotFoundError:
        print(f"llmg: {path}: no such pid file (is the server running?)", file=sys.stderr)
        return 1
    except ValueError:
        print(f"llmg: {path}: does not hold a pid", file=sys.stderr)
        return 1
    except ProcessLookupError:
        print(f"llmg: {path}: no process {pid} (stale pid file)", file=sys.stderr)
        return 1
    except PermissionError:
        print(f"llmg: not allowed to signal process {pid}", file=sys.stderr)
        return 1
    print(f"llmg: sent SIGHUP to {pid}; the server logs whether the new config was accepted")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        loaded = load(args.config)
        plan = registry.plan(loaded)
    except ConfigError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 2
    server = loaded.config.server
    print(f"config: {loaded.source}: valid")
    print(f"server: http://{server.host}:{server.port}, {server.workers} worker(s), transport {server.transport}")
    auth = server.auth
    if not auth.enabled:
        print("gateway auth: disabled (any client may call)")
    elif not auth.keys:
        print("gateway auth: any Bearer token")
    else:
        print(f"gateway auth: {len(auth.keys)} key(s)")
    for warning in loaded.warnings + plan.warnings:
        print(f"warning: {warning}")
    print(f"registered providers ({len(plan.registered)}):")
    for name, settings in sorted(plan.registered.items()):
        where = settings.base_url or "(built in)"
        print(f"  {name:22} {settings.spec.adapter:14} {where}")
    print(f"skipped providers ({len(plan.skipped)}):")
    for name, reason in sorted(plan.skipped.items()):
        print(f"  {name:22} {reason}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="llmg", description="LLMG: an OpenAI-compatible LLM gateway")
    top.add_argument("--version", action="version", version=f"llmg {__version__}")
    sub = top.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help="path to llmg.toml (default: $LLMG_CONFIG, ./llmg.toml, built-in)")
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--pid-file", help="write the server's pid here, for `llmg reload` (default: server.pid_file)")
    serve.set_defaults(func=cmd_serve)

    reload = sub.add_parser("reload", help="re-read the config of a running server (sends it SIGHUP)")
    reload.add_argument("--pid-file", help="the server's pid file (default: server.pid_file of --config)")
    reload.add_argument("--config", help="config whose server.pid_file names the pid file")
    reload.set_defaults(func=cmd_reload)

    check = sub.add_parser("check-config", help="validate the config and show which providers register")
    check.add_argument("--config", help="path to llmg.toml (default: $LLMG_CONFIG, ./llmg.toml, built-in)")
    check.set_defaults(func=cmd_check_config)

    from .contract import DEFAULT_PATH, command as cmd_contract

    contract = sub.add_parser("contract", help="write the OpenAPI contract generated from the msgspec Structs")
    contract.add_argument("--output", default=DEFAULT_PATH, help=f"where to write it (default {DEFAULT_PATH}; '-' prints it)")
    contract.add_argument("--check", action="store_true", help="only check that the file matches the code (exit 1 if not)")
    contract.set_defaults(func=cmd_contract)

    from .providers.catalogue import command as cmd_providers

    providers = sub.add_parser("providers", help="list the provider catalogue, or write/check the README table")
    providers.add_argument("--markdown", action="store_true", help="print the catalogue as the README's Markdown table")
    providers.add_argument("--write-readme", metavar="PATH", help="replace the table between the README's provider markers")
    providers.add_argument("--check-readme", metavar="PATH", help="exit 1 if the README's table differs from the catalogue")
    providers.set_defaults(func=cmd_providers)

    from .providers.github_copilot import command as cmd_login

    login = sub.add_parser("login", help="log in to a provider that needs an interactive login (GitHub's device flow)")
    login.add_argument("provider", choices=["github-copilot"], help="the provider to log in to")
    login.add_argument("--token-dir", help="where to store the token (default: $GITHUB_COPILOT_TOKEN_DIR or ~/.config/llmg/github_copilot)")
    login.set_defaults(func=cmd_login)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # `llmg check-config | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
