"""Instructions per plain (or, ``--kind stream``, streamed) request: a noise-free cross-check for
the A/B on a shared machine.

    git archive <base-commit> llmg | (mkdir -p /tmp/llmg-ab-base && tar -x -C /tmp/llmg-ab-base)
    .venv/bin/python -m benchmarks.callgrind --root /tmp/llmg-ab-base     # A
    .venv/bin/python -m benchmarks.callgrind                              # B: this checkout
    .venv/bin/python -m benchmarks.callgrind --kind stream                # the same for a stream

Runs one gateway (1 worker) under ``valgrind --tool=callgrind`` in front of the nginx fake, sends
``--warmup`` requests, zeroes the counters (``callgrind_control -z``), sends ``--requests`` more one
at a time, dumps, and prints instructions per request, every thread counted (pyreqwest's runtime
included). The same tree measured twice differs by well under 1 %. Needs valgrind
(``apt-get install -y valgrind``); takes a few minutes (start-up under valgrind is slow).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from .gateway import ROOT, config_text
from .payloads import GATEWAY_MODEL, GATEWAY_TOKEN, request_body
from .tools import free_port
from .upstream import Upstream

CHAT = "/v1/chat/completions"


def _send(client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> None:
    # Read to the end: a stream is counted only once its last chunk ([DONE]) has been written.
    response = client.post(url + CHAT, content=body, headers=headers)
    response.raise_for_status()
    if not response.content:
        raise RuntimeError("empty response")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks.callgrind", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=str(ROOT), help="source tree to run (holds llmg/); default: this checkout")
    p.add_argument("--transport", default="h1")
    p.add_argument("--kind", choices=("plain", "stream"), default="plain")
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--keep", metavar="FILE", help="copy the dump here (for callgrind_annotate's per-function view)")
    args = p.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed (apt-get install -y valgrind)", file=sys.stderr)
        return 2
    body = request_body(GATEWAY_MODEL, args.kind == "stream")
    headers = {"authorization": f"Bearer {GATEWAY_TOKEN}", "content-type": "application/json"}
    with tempfile.TemporaryDirectory(prefix="llmg-callgrind-") as tmp:
        upstream = Upstream(free_port()).start()
        conf = Path(tmp) / "llmg.toml"
        conf.write_text(config_text(upstream.url, args.transport))
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "LLMG_CONFIG"}
        env["PYTHONPATH"] = args.root
        env["PYTHONHASHSEED"] = "0"  # the same dict and set layouts in every run: fewer stray counts
        proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out.%p", "--dump-instr=no",
             sys.executable, "-m", "llmg", "serve", "--config", str(conf), "--port", str(port), "--workers", "1"],
            cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                try:
                    if httpx.get(url + "/health", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            with httpx.Client(timeout=120) as client:
                for _ in range(args.warmup):
                    _send(client, url, body, headers)
                subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
                for _ in range(args.requests):
                    _send(client, url, body, headers)
                subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
            # The dump requested above is part 1 (``out.<pid>.1``); the final one at exit is not used.
            dump = Path(f"{tmp}/out.{proc.pid}.1")
            while not dump.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            text = dump.read_text(errors="replace")
            if args.keep:
                shutil.copyfile(dump, args.keep)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(120)
            upstream.stop()
        leftover = glob.glob(f"{tmp}/out.*")
        found = re.search(r"^summary: (\d+)", text, re.M)
        if found is None:
            print(f"no summary in the callgrind dump ({len(leftover)} files)", file=sys.stderr)
            return 1
        per = int(found.group(1)) / args.requests
        print(f"{args.root}: {per:,.0f} instructions per {args.kind} request ({args.requests} requests, transport {args.transport})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
