"""``llmg check-config``: validate a config and show what start-up would do with it."""

from __future__ import annotations

import argparse
import sys

from ..config import ConfigError, load
from ..hygiene import redact_url
from ..providers import registry
from . import checks


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
    elif not auth.keys and not loaded.config.keys:
        print("gateway auth: any Bearer token")
    else:
        print(f"gateway auth: {len(auth.keys)} plain key(s), {len(loaded.config.keys)} named key(s)")
    if loaded.config.keys:  # [keys.NAME]: names only, never a key
        limits = loaded.config.limits
        print(f"named keys: {', '.join(sorted(loaded.config.keys))} (limits backend: {limits.backend}, "
              f"on error: {limits.on_backend_error})")
    problem = checks.auth_problem(loaded)
    if problem:
        print(f"error: {problem} (`llmg serve` refuses to start)")
    for warning in checks.warnings(loaded, plan):
        print(f"warning: {warning}")
    print(f"registered providers ({len(plan.registered)}):")
    for name, settings in sorted(plan.registered.items()):
        where = redact_url(settings.base_url) or "(built in)"  # userinfo and query may hold keys
        print(f"  {name:22} {settings.spec.adapter:14} {where}")
    print(f"skipped providers ({len(plan.skipped)}):")
    for name, reason in sorted(plan.skipped.items()):
        print(f"  {name:22} {reason}")
    return 0
