"""Instructions per request with metrics + json access log on and off, counted by valgrind's
callgrind: unlike req/s or CPU time, a count that the machine's other load does not move.

    .venv/bin/python -m benchmarks.observe_callgrind [--requests 200] [--kind plain|stream]
                                                     [--upstream mock|nginx]

Runs the two gateways of benchmarks/observe.py (1 worker; the mock provider, or with
``--upstream nginx`` the openai provider in front of the nginx upstream of ``./dev bench``, so the
openai_compat path and the HTTP transport are counted too) under
``valgrind --tool=callgrind`` (Debian's ``valgrind``; start-up takes minutes), sends 30 warm-up
requests, zeroes the counters, sends ``--requests`` sequential requests and dumps. Under valgrind a
request takes ~50x longer, so what runs per unit of time (the metrics hand-over every 0.5 s, the
access-line timer, which then writes one line per write instead of batching them) is counted more
often per request than at full speed: the raw "on" figure is an upper bound. So each gateway is
then left idle for IDLE_S (its keep-alive connection open) and that per-second rate, times the
time the requests took, is subtracted too ("net"): what a request costs at full speed, where
that periodic work is spread over thousands of requests a second.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import httpx

from benchmarks.observe import BODIES, OFF, ON, _nginx_provider
from benchmarks.tools import free_port
from benchmarks.upstream import Upstream

ROOT = Path(__file__).resolve().parent.parent


IDLE_S = 5.0


class Count(NamedTuple):
    raw: float  # instructions per request, all that ran while the requests were sent
    net: float  # the same less what runs per unit of time (the idle rate times the time taken)
    idle_per_s: float  # instructions per second with a keep-alive connection open and no request


def _total(dump: Path) -> int:
    return next(int(line.split()[1]) for line in dump.read_text().splitlines() if line.startswith("totals:"))


def count(config: str, body: bytes, requests: int) -> Count:
    with tempfile.TemporaryDirectory(prefix="llmg-callgrind-") as tmp:
        workdir = Path(tmp)
        (workdir / "gateway.toml").write_text(config)
        port = free_port()
        out = workdir / "callgrind.out"
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env["PYTHONPATH"] = str(ROOT)
        env["PYTHONHASHSEED"] = "0"  # the same dict and set layouts in every run: fewer stray counts
        with (workdir / "log").open("wb") as log:
            proc = subprocess.Popen(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-m", "llmg", "serve",
                 "--config", str(workdir / "gateway.toml"), "--port", str(port), "--workers", "1"],
                cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 600
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the gateway did not start under valgrind")
                time.sleep(1)
            headers = {"authorization": "Bearer test-token", "content-type": "application/json"}
            with httpx.Client(timeout=120) as client:
                for _ in range(30):
                    client.post(f"{url}/v1/chat/completions", content=body, headers=headers)
                subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True, check=True)
                t0 = time.monotonic()
                for _ in range(requests):
                    client.post(f"{url}/v1/chat/completions", content=body, headers=headers)
                busy_s = time.monotonic() - t0
                subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True, check=True)
                # The same connection kept open, no requests: what runs per unit of time alone.
                subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True, check=True)
                t0 = time.monotonic()
                time.sleep(IDLE_S)
                subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True, check=True)
                idle_s = time.monotonic() - t0
            dumps = sorted(workdir.glob("callgrind.out.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
            busy, idle = (_total(d) for d in dumps[:2])
            return Count(busy / requests, (busy - idle / idle_s * busy_s) / requests, idle / idle_s)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--kind", choices=("plain", "stream"), default="plain")
    p.add_argument("--upstream", choices=("mock", "nginx"), default="mock")
    args = p.parse_args(argv)
    body = BODIES[args.upstream][0 if args.kind == "plain" else 1]
    nginx = Upstream(free_port()).start() if args.upstream == "nginx" else None
    try:
        off_cfg, on_cfg = OFF, ON
        if nginx is not None:  # as benchmarks/observe.py: the openai provider pointed at nginx
            off_cfg, on_cfg = (c.replace("[providers.mock]", _nginx_provider(nginx.url)) for c in (OFF, ON))
        off = count(off_cfg, body, args.requests)
        on = count(on_cfg, body, args.requests)
    finally:
        if nginx is not None:
            nginx.stop()
    print(f"{args.kind} ({args.upstream}): {off.raw:,.0f} instructions per request off, {on.raw:,.0f} on"
          f" ({(on.raw / off.raw - 1) * 100:+.1f}%); less the per-second work ({off.idle_per_s:,.0f} and"
          f" {on.idle_per_s:,.0f} instructions/s idle): {off.net:,.0f} off, {on.net:,.0f} on"
          f" ({(on.net / off.net - 1) * 100:+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
