"""``llmg reload`` and the pid file it reads: re-read the config of a running server (SIGHUP;
llmg/lifecycle.py does the reload in every worker)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..config import ConfigError, load


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
