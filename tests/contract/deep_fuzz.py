"""``./dev fuzz``: a deep schemathesis CLI run against a real gateway, many more cases than the tests.

Starts the gateway (``llmg serve``, mock provider, a gateway key) on a free 127.0.0.1 port, runs
``schemathesis run http://127.0.0.1:PORT/openapi.json`` with every check and both generation modes
through all phases, then stops the gateway. Fails unless schemathesis reports no failures and at
least ``--min-cases`` generated cases. Extra arguments go to ``schemathesis run`` unchanged, e.g.
``./dev fuzz --seed 42`` or ``./dev fuzz --max-examples 1000``.

With ``--url`` it fuzzes a gateway that is already running instead (``--token`` is its key).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "fuzz-token"
CONFIG = f"""
[server.auth]
keys = ["{TOKEN}"]

[providers.mock]
"""


def schemathesis_command(url: str, token: str, max_examples: int, extra: list[str]) -> list[str]:
    exe = Path(sys.executable).with_name("schemathesis")
    return [
        str(exe) if exe.exists() else "schemathesis",
        "run", f"{url}/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--checks", "all",
        "--mode", "all",
        "--max-examples", str(max_examples),
        "--request-timeout", "30",
        *extra,
    ]


def run(url: str, token: str, max_examples: int, min_cases: int, extra: list[str]) -> int:
    env = dict(os.environ)
    env["SCHEMATHESIS_HOOKS"] = "tests.contract.fuzz_hooks"  # half the valid bodies go to the mock
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = schemathesis_command(url, token, max_examples, extra)
    shown = " ".join(part if "Bearer" not in part else "'Authorization: Bearer ***'" for part in command)
    print(f"$ {shown}", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:  # schemathesis keeps a .schemathesis/ cache in its cwd
        process = subprocess.run(command, cwd=scratch, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.monotonic() - started
    sys.stdout.write(process.stdout)
    counts = re.search(r"(\d+) generated, (\d+) passed", process.stdout)
    generated = int(counts.group(1)) if counts else 0
    print(f"\ndeep fuzz: schemathesis exit {process.returncode}, {generated} generated cases, {elapsed:.0f} s")
    if process.returncode != 0:
        print("deep fuzz FAILED: schemathesis found failures (see above)")
        return 1
    if generated < min_cases:
        print(f"deep fuzz FAILED: only {generated} cases, fewer than --min-cases {min_cases}")
        return 1
    print("deep fuzz passed: no failures")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev fuzz", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="fuzz this running gateway instead of starting one (e.g. http://127.0.0.1:8080)")
    parser.add_argument("--token", default=TOKEN, help="gateway token to send with --url")
    parser.add_argument("--max-examples", type=int, default=300, help="cases per operation and phase (default 300)")
    parser.add_argument("--min-cases", type=int, default=1000, help="fail if fewer cases were generated (default 1000)")
    args, extra = parser.parse_known_args(argv)
    if args.url:
        return run(args.url.rstrip("/"), args.token, args.max_examples, args.min_cases, extra)

    from tests.gateway import GatewayProcess

    gateway = GatewayProcess(CONFIG, token=TOKEN).start()
    try:
        code = run(gateway.url, TOKEN, args.max_examples, args.min_cases, extra)
        if gateway.proc.poll() is not None:
            print("deep fuzz FAILED: the gateway died during the run")
            code = 1
        if "Traceback" in gateway.output():
            print("deep fuzz FAILED: the gateway logged a traceback:\n" + gateway.output()[-4000:])
            code = 1
    finally:
        gateway.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
