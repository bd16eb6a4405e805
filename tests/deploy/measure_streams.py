"""Memory per open stream, for the README's sizing guidance (not a test: a measurement to re-run).

One real gateway worker (``python -m llmg serve``, transport default) in front of the scriptable
fake upstream's never-ending stream; N client streams are opened at once and held open after
their first event; the worker's RSS (/proc/PID/status VmRSS) is read before and with them open.

    .venv/bin/python -m tests.deploy.measure_streams [--streams 200 500]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import httpx

from tests.fakes import faulty_upstream
from tests.gateway import GatewayProcess

REQUEST = {"model": "faulty/forever", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def hold(url: str, headers: dict[str, str], count: int, measure) -> float:
    """Open ``count`` streams, wait for each one's first event, measure, then close them all."""
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        opened = asyncio.Event()
        started = 0
        stop = asyncio.Event()

        async def one() -> None:
            nonlocal started
            async with client.stream("POST", f"{url}/v1/chat/completions", json=REQUEST, headers=headers) as resp:
                assert resp.status_code == 200, resp.status_code
                async for _ in resp.aiter_bytes():
                    break
                started += 1
                if started == count:
                    opened.set()
                await stop.wait()

        tasks = [asyncio.create_task(one()) for _ in range(count)]
        await asyncio.wait_for(opened.wait(), 120)
        await asyncio.sleep(2)  # let the worker settle with all streams flowing
        value = measure()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        return value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, nargs="+", default=[200, 500])
    args = parser.parse_args()
    upstream = faulty_upstream.start()
    config = f'[server]\nmax_in_flight = 4096\n\n[providers.faulty]\nbase_url = "{upstream.url}/v1"\ntimeout = 600\n'
    gateway = GatewayProcess(config).start()
    try:
        pid = gateway.proc.pid  # --workers 1: the serving process itself
        # Warm up (imports, pools, first streams), then the idle baseline.
        asyncio.run(hold(gateway.url, gateway.auth, 20, lambda: 0.0))
        time.sleep(2)
        idle = rss_mb(pid)
        print(f"idle after warm-up: {idle:.1f} MB RSS")
        for count in args.streams:
            held = asyncio.run(hold(gateway.url, gateway.auth, count, lambda: rss_mb(pid)))
            print(f"{count} open streams: {held:.1f} MB RSS, +{held - idle:.1f} MB, "
                  f"{(held - idle) * 1024 / count:.0f} KB per stream")
            time.sleep(3)
        print(f"after closing them: {rss_mb(pid):.1f} MB RSS")
    finally:
        gateway.stop()
        upstream.stop()


if __name__ == "__main__":
    main()
