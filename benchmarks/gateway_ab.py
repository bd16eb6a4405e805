"""A/B of two source trees of the gateway, interleaved in one run (the machine is shared and noisy).

    git archive <base-commit> llmg | (mkdir -p /tmp/llmg-ab-base && tar -x -C /tmp/llmg-ab-base)
    .venv/bin/python -m benchmarks.gateway_ab --base /tmp/llmg-ab-base --rounds 6 --kind plain --concurrency 64
    .venv/bin/python -m benchmarks.gateway_ab --base . --transport-a aiohttp --transport hybrid   # two transports

Both gateways run side by side in front of the same nginx fake (1 worker each, same config); wrk
loads A, then B, then A ... for ``--rounds`` pairs, the order flipped every round so neither side
always follows the other. Prints every round and the median ratio B / A (B = this tree).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from . import tools
from .gateway import ROOT, Gateway
from .payloads import GATEWAY_MODEL, GATEWAY_TOKEN, request_body
from .tools import free_port
from .upstream import Upstream

CHAT = "/v1/chat/completions"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks.gateway_ab", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="source tree A (holds llmg/); B is this checkout")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--duration", type=float, default=4.0)
    p.add_argument("--kind", choices=("plain", "stream"), default="plain")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--transport", default=None)
    p.add_argument("--transport-a", default=None,
                   help="A's transport when it differs from B's (compare transports: --base . --transport-a aiohttp)")
    args = p.parse_args(argv)
    if args.transport is None:
        from llmg.config import ServerConfig

        args.transport = ServerConfig().transport
    transport_a = args.transport_a or args.transport
    tools.ensure_packages()
    stream = args.kind == "stream"
    with tempfile.TemporaryDirectory() as tmp:
        body = Path(tmp) / "body.json"
        body.write_bytes(request_body(GATEWAY_MODEL, stream))
        upstream = Upstream(free_port()).start()
        sides = {"A": Gateway(free_port(), upstream.url, transport=transport_a, root=Path(args.base)).start(),
                 "B": Gateway(free_port(), upstream.url, transport=args.transport, root=ROOT).start()}
        rps: dict[str, list[float]] = {"A": [], "B": []}
        p50: dict[str, list[float]] = {"A": [], "B": []}
        # CPU seconds per 1,000 requests: steadier than req/s when other jobs share the cores.
        cpu: dict[str, list[float]] = {"A": [], "B": []}
        try:
            for gw in sides.values():
                tools.wrk(gw.url + CHAT, body, f"Bearer {GATEWAY_TOKEN}", args.concurrency, 1, "text/event-stream" if stream else "")
            for r in range(args.rounds):
                for name in ("AB" if r % 2 == 0 else "BA"):
                    cpu0 = sides[name].cpu_seconds()
                    res = tools.wrk(sides[name].url + CHAT, body, f"Bearer {GATEWAY_TOKEN}", args.concurrency,
                                    args.duration, "text/event-stream" if stream else "")
                    cpu[name].append((sides[name].cpu_seconds() - cpu0) / max(1, res["requests"]) * 1000)
                    rps[name].append(res["rps"])
                    p50[name].append(res["p50_ms"])
                    print(f"round {r + 1} {name}: {res['rps']:8.0f} req/s  CPU {cpu[name][-1]:.3f} s/1k  p50 {res['p50_ms']:.3f} ms  "
                          f"p99 {res['p99_ms']:.3f} ms  errors {res['errors']}", file=sys.stderr, flush=True)
        finally:
            for gw in sides.values():
                gw.stop()
            upstream.stop()
    ratios = [b / a for a, b in zip(rps["A"], rps["B"]) if a]
    print(f"{args.kind} c{args.concurrency}: A median {statistics.median(rps['A']):.0f} req/s, "
          f"B median {statistics.median(rps['B']):.0f} req/s; B/A per round "
          + ", ".join(f"{x:.3f}" for x in ratios) + f"; median {statistics.median(ratios):.3f}; "
          f"p50 A {statistics.median(p50['A']):.3f} ms, B {statistics.median(p50['B']):.3f} ms; "
          f"CPU s/1k A {statistics.median(cpu['A']):.3f}, B {statistics.median(cpu['B']):.3f} "
          f"(B/A {statistics.median(cpu['B']) / statistics.median(cpu['A']):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
