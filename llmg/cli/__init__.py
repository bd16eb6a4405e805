"""The ``llmg`` command line: ``serve``, ``check-config``, ``contract``, ``providers``, ``login``.

Each subcommand's function lives in its own module here; the logic it drives stays where it
belongs (``providers/catalogue.py`` for the catalogue table, ``providers/github_copilot.py`` for
the device flow, ``contract.py`` for the OpenAPI contract).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from .. import __version__
from . import checks


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (no usage block), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


_CONFIG_HELP = "path to llmg.toml (default: $LLMG_CONFIG, ./llmg.toml, built-in)"


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="llmg", description="LLMG: an OpenAI-compatible LLM gateway")
    top.add_argument("--version", action="version", version=f"llmg {__version__}")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    from .reload import cmd_reload
    from .serve import cmd_serve

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help=_CONFIG_HELP)
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=checks.port, help="port, 1-65535 (default 8080)")
    serve.add_argument("--workers", type=checks.workers, help=f"worker processes, 1-{checks.MAX_WORKERS} (default 1)")
    serve.add_argument("--pid-file", help="write the server's pid here, for `llmg reload` (default: server.pid_file)")
    serve.set_defaults(func=cmd_serve)

    reload = sub.add_parser("reload", help="re-read the config of a running server (sends it SIGHUP)")
    reload.add_argument("--pid-file", help="the server's pid file (default: server.pid_file of --config)")
    reload.add_argument("--config", help="config whose server.pid_file names the pid file")
    reload.set_defaults(func=cmd_reload)

    from .check_config import cmd_check_config

    check = sub.add_parser("check-config", help="validate the config and show which providers register")
    check.add_argument("--config", help=_CONFIG_HELP)
    check.set_defaults(func=cmd_check_config)

    from ..contract import DEFAULT_PATH
    from ..contract import command as cmd_contract

    contract = sub.add_parser("contract", help="write the OpenAPI contract generated from the msgspec Structs")
    contract.add_argument("--output", default=DEFAULT_PATH, help=f"where to write it (default {DEFAULT_PATH}; '-' prints it)")
    contract.add_argument("--check", action="store_true", help="only check that the file matches the code (exit 1 if not)")
    contract.set_defaults(func=cmd_contract)

    from .providers import cmd_providers

    providers = sub.add_parser("providers", help="list the provider catalogue, or write/check the README table")
    providers.add_argument("--markdown", action="store_true", help="print the catalogue as the README's Markdown table")
    providers.add_argument("--write-readme", metavar="PATH", help="replace the table between the README's provider markers")
    providers.add_argument("--check-readme", metavar="PATH", help="exit 1 if the README's table differs from the catalogue")
    providers.set_defaults(func=cmd_providers)

    from .login import cmd_login

    login = sub.add_parser("login", help="log in to a provider that needs an interactive login (GitHub's device flow)")
    login.add_argument("provider", choices=["github-copilot"], help="the provider to log in to")
    login.add_argument("--token-dir", help="where to store the token (default: $GITHUB_COPILOT_TOKEN_DIR or ~/.config/llmg/github_copilot)")
    login.set_defaults(func=cmd_login)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `llmg check-config | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
