"""Start-up checks that turn a gateway nobody could use into exit 2 with one line to act on."""

from __future__ import annotations

import argparse
import errno
import socket

from ..config import LoadedConfig
from ..hosts import exposure_warnings
from ..providers.registry import Plan

MAX_WORKERS = 256  # the same bound as server.workers in config.py


def port(text: str) -> int:
    """argparse type for --port: an integer 1-65535 (Sanic would raise OverflowError later)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number from 1 to 65535, not {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 1 to 65535, not {value}")
    return value


def workers(text: str) -> int:
    """argparse type for --workers: 0 made Sanic raise RuntimeError, -1 hung for ever."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number from 1 to {MAX_WORKERS}, not {text!r}") from None
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_WORKERS}, not {value}")
    return value


def bind_problem(host: str, port: int) -> str | None:
    """Why the gateway could not listen on host:port, or None. Probed before Sanic starts, whose
    own failure is an OSError traceback (and, with several workers, a main process left waiting).
    SO_REUSEADDR as Sanic sets it, so a port in TIME_WAIT is not reported as taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return f"cannot listen on {host}:{port}: unknown host; change --host (or server.host)"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"port {port} on {host} is already in use; stop the other server or pick another "
                        "port with --port (or server.port)")
            if exc.errno == errno.EACCES:
                return f"no permission to listen on port {port}; use a port above 1023 with --port (or server.port)"
            return f"cannot listen on {host}:{port}: {exc.strerror}; change --host/--port (or server.host/port)"
    return None


def _usable(key: str | None) -> bool:
    return bool(key) and "${" not in key  # type: ignore[operator]


def auth_problem(loaded: LoadedConfig) -> str | None:
    """Gateway auth on, keys configured, none usable: every client would get 401, so refuse.

    Keys are the plain ``[server.auth] keys`` list and the named ``[keys.NAME]`` tables together:
    one usable key of either kind is enough."""
    config = loaded.config
    auth = config.server.auth
    named = config.keys
    if not auth.enabled or (not auth.keys and not named):
        return None
    if any(_usable(key) for key in auth.keys):
        return None
    if any(entry.key_sha256 or _usable(entry.key) for entry in named.values()):
        return None
    unset = sorted({name for path, names in loaded.unset_vars.items()
                    if path.startswith(("server.auth.keys", "keys.")) for name in names})
    why = (f"{', '.join(unset)} {'is' if len(unset) == 1 else 'are'} not set" if unset
           else "every key is empty")
    where = "server.auth.keys" if auth.keys else "keys"
    return (f"{loaded.source}: {where}: no usable gateway key ({why}), so every client would get "
            "401; export the variable(s), or remove the keys to accept any Bearer token, or set "
            "[server.auth] enabled = false")


NO_PROVIDER = (
    "no provider is registered, so every request gets 404 Unknown provider: add a [providers.mock] "
    "section for the offline mock, or export a provider key such as OPENAI_API_KEY "
    "(`llmg check-config` says why each provider was skipped)"
)


def warnings(loaded: LoadedConfig, plan: Plan) -> list[str]:
    """Everything start-up should warn about, in one list for serve and check-config."""
    found = [*loaded.warnings, *plan.warnings]
    if not plan.registered:
        found.append(NO_PROVIDER)
    # Settings that open the gateway up (non-loopback bind with open auth, CORS "*"): loud.
    found += exposure_warnings(loaded.config.server, named_keys=bool(loaded.config.keys))
    return found
