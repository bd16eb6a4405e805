"""Run the proxy-overhead benchmarks and write their results.

    python -m benchmarks.run                    # full run (a few minutes) -> benchmarks/results/tmp/
    python -m benchmarks.run --quick            # short durations, smaller soak: a smoke run of everything
    python -m benchmarks.run --commit-results   # -> the tracked benchmarks/results/ and the README table
    python -m benchmarks.run --soak 30          # only the leak soak: 30 minutes of mixed traffic (benchmarks/soak.py)

Every scenario sends the same request with the same tool to the fake upstream directly and through
the gateway, in the same run, so the "added" figures are gateway minus direct under the same load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from . import client, profile, report, tools
from .gateway import Gateway
from .payloads import GATEWAY_MODEL, GATEWAY_TOKEN, MODEL, UPSTREAM_KEY, request_body
from .tools import free_port
from .upstream import Upstream

RESULTS = Path(__file__).resolve().parent / "results"
SCRATCH = RESULTS / "tmp"  # ignored by git: where a run goes unless --commit-results
CHAT = "/v1/chat/completions"
SSE = "text/event-stream"


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.duration = args.duration or (2.0 if args.quick else 6.0)
        self.warmup = 1.0
        self.concurrency = [int(c) for c in args.concurrency.split(",")]
        self.workers = [int(w) for w in args.workers.split(",")]
        self.kinds = ["plain", "stream"]
        self.rows: list[dict] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="llmg-bench-")
        tmp = Path(self._tmp.name)
        self.bodies = {}
        for target, model in (("direct", MODEL), ("gateway", GATEWAY_MODEL)):
            for kind in self.kinds:
                path = tmp / f"{target}-{kind}.json"
                path.write_bytes(request_body(model, kind == "stream"))
                self.bodies[target, kind] = path

    def log(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    # --- one measurement ------------------------------------------------------------------------

    def load(self, tool: str, url: str, target: str, kind: str, concurrency: int, duration: float) -> dict:
        auth = f"Bearer {UPSTREAM_KEY if target == 'direct' else GATEWAY_TOKEN}"
        accept = SSE if kind == "stream" else ""
        runner = tools.wrk if tool == "wrk" else tools.hey
        return runner(url + CHAT, self.bodies[target, kind], auth, concurrency, duration, accept)

    def measure(self, tool: str, server, target: str, kind: str, concurrency: int, **extra) -> dict:
        self.load(tool, server.url, target, kind, concurrency, self.warmup)  # warm pools and caches
        cpu0 = server.cpu_seconds()
        result = self.load(tool, server.url, target, kind, concurrency, self.duration)
        cpu = server.cpu_seconds() - cpu0
        row = {"kind": kind, "target": target, "concurrency": concurrency, **extra, **result,
               "loadavg_1m": round(os.getloadavg()[0], 2)}
        row["cpu_s_per_1k"] = cpu / result["requests"] * 1000 if result["requests"] else None
        if isinstance(server, Gateway):
            row["peak_rss_mb"] = [round(m, 1) for m in server.peak_rss_mb()]
        self.rows.append(row)
        self.log(
            f"  {tool:3} {kind:6} {target:7} w{extra.get('workers', '-')} c{concurrency:<3} {extra.get('transport', ''):13} "
            f"{result['rps']:9.0f} req/s  p50 {result['p50_ms']:7.3f}  p99 {result['p99_ms']:7.3f} ms"
            f"  errors {result['errors']}"
        )
        return row

    def measure_sse(self, server, target: str, concurrency: int, **extra) -> dict:
        auth = f"Bearer {UPSTREAM_KEY if target == 'direct' else GATEWAY_TOKEN}"
        body = self.bodies[target, "stream"].read_bytes()
        client.measure(server.url + CHAT, body, auth, concurrency, self.warmup)
        result = client.measure(server.url + CHAT, body, auth, concurrency, self.duration)
        row = {"kind": "stream", "target": target, "concurrency": concurrency, **extra, **result,
               "loadavg_1m": round(os.getloadavg()[0], 2)}
        self.rows.append(row)
        self.log(
            f"  sse {target:7} w{extra.get('workers', '-')} c{concurrency:<3} TTFC p50 {result['ttfc_p50_ms']:.3f} "
            f"p99 {result['ttfc_p99_ms']:.3f} ms  {result['chunks_per_s']:.0f} chunks/s  errors {result['errors']}"
        )
        return row

    # --- the suite --------------------------------------------------------------------------------

    def run(self) -> dict:
        meta = report.machine()
        meta["mode"] = "quick" if self.args.quick else "full"
        meta["duration_s"] = self.duration
        meta["loadavg_start"] = os.getloadavg()
        started = time.monotonic()
        upstream = Upstream(free_port(), delay_ms=self.args.delay_ms).start()
        self.log(f"fake upstream: nginx + echo on {upstream.url} (delay {self.args.delay_ms} ms)")
        try:
            self.proxy_overhead(upstream)
            self.streams(upstream)
            self.hey_crosscheck(upstream)
            self.transports(upstream)
            prof = self.profile(upstream)
            soak = self.soak(upstream)
        finally:
            upstream.stop()
        meta["loadavg_end"] = os.getloadavg()
        meta["wall_s"] = round(time.monotonic() - started, 1)
        return {"meta": meta, "rows": self.rows, "soak": soak, "profile": prof}

    def proxy_overhead(self, upstream: Upstream) -> None:
        self.log("proxy overhead (wrk): direct vs gateway, same request, same run")
        gateways = {w: Gateway(free_port(), upstream.url, workers=w, transport=self.args.transport).start() for w in self.workers}
        try:
            for kind in self.kinds:
                for c in self.concurrency:
                    self.measure("wrk", upstream, "direct", kind, c, section="overhead")
                    for w, gw in gateways.items():
                        self.measure("wrk", gw, "gateway", kind, c, workers=w, transport=gw.transport, section="overhead")
        finally:
            for gw in gateways.values():
                gw.stop()

    def streams(self, upstream: Upstream) -> None:
        self.log("streams (own SSE client): time to first chunk, chunks/s")
        gw = Gateway(free_port(), upstream.url, workers=1, transport=self.args.transport).start()
        try:
            for c in (1, 64):
                self.measure_sse(upstream, "direct", c, section="sse")
                self.measure_sse(gw, "gateway", c, workers=1, transport=gw.transport, section="sse")
        finally:
            gw.stop()

    def hey_crosscheck(self, upstream: Upstream) -> None:
        self.log("cross-check with hey: non-streamed, c64, 1 worker")
        gw = Gateway(free_port(), upstream.url, workers=1, transport=self.args.transport).start()
        try:
            self.measure("hey", upstream, "direct", "plain", 64, section="hey")
            self.measure("hey", gw, "gateway", "plain", 64, workers=1, transport=gw.transport, section="hey")
        finally:
            gw.stop()

    def transports(self, upstream: Upstream) -> None:
        from llmg.transports import TRANSPORTS

        names = self.args.transports.split(",") if self.args.transports else list(TRANSPORTS)
        rounds = 1 if self.args.quick else 2
        self.log(f"transport bake-off inside the gateway (1 worker, c64, {rounds} round(s), best kept): {', '.join(names)}")
        # All candidates run side by side and are measured in turn, round after round, so a burst
        # of load from elsewhere on the machine does not land on one transport only.
        gateways = {name: Gateway(free_port(), upstream.url, workers=1, transport=name).start() for name in names}
        try:
            for round_no in range(1, rounds + 1):
                for kind in self.kinds:
                    for name, gw in gateways.items():
                        self.measure("wrk", gw, "gateway", kind, 64, workers=1, transport=name,
                                     section="transports", round=round_no)
        finally:
            for gw in gateways.values():
                gw.stop()

    def profile(self, upstream: Upstream) -> dict:
        scenario = f"non-streamed chat, wrk c64, 1 worker, transport {self.args.transport}"
        self.log(f"profile (py-spy): {scenario}")
        gw = Gateway(free_port(), upstream.url, workers=1, transport=self.args.transport).start()
        raw = Path(self._tmp.name) / "profile.txt"
        try:
            self.load("wrk", gw.url, "gateway", "plain", 64, self.warmup)
            spy = profile.start(gw.workers_pids()[0], self.duration, raw)
            if spy is None:
                return {"scenario": scenario, "error": "py-spy not installed (bench extra)"}
            self.load("wrk", gw.url, "gateway", "plain", 64, self.duration + 1)
            _, err = spy.communicate(timeout=60)
        finally:
            gw.stop()
        if spy.returncode != 0 or not raw.exists():
            return {"scenario": scenario, "error": f"py-spy failed: {err.decode(errors='replace').strip()[-300:]}"}
        result = {"scenario": scenario, **profile.summarise(raw)}
        top = ", ".join(f"{k} {v:.0%}" for k, v in list(result["by_package"].items())[:5])
        self.log(f"  {result['samples']} samples; self time by package: {top}")
        return result

    def soak(self, upstream: Upstream) -> dict:
        total = 10_000 if self.args.quick else 100_000
        self.log(f"memory soak: {total} non-streamed requests at c64 through 1 worker")
        gw = Gateway(free_port(), upstream.url, workers=1, transport=self.args.transport).start()
        samples = [{"requests": 0, "rss_mb": round(gw.rss_mb()[0], 1)}]
        done = errors = 0
        try:
            step = 1.0 if self.args.quick else 2.0
            while done < total:
                r = self.load("wrk", gw.url, "gateway", "plain", 64, step)
                done += r["requests"]
                errors += r["errors"]
                samples.append({"requests": done, "rss_mb": round(gw.rss_mb()[0], 1)})
            peak = gw.peak_rss_mb()[0]
        finally:
            gw.stop()
        half = next(s for s in samples if s["requests"] >= done / 2)
        result = {
            "requests": done,
            "errors": errors,
            "samples": samples,
            "peak_rss_mb": round(peak, 1),
            "rss_end_mb": samples[-1]["rss_mb"],
            "growth_second_half_mb": round(samples[-1]["rss_mb"] - half["rss_mb"], 1),
        }
        self.log(f"  peak RSS {peak:.1f} MB after {done} requests; second-half growth {result['growth_second_half_mb']} MB")
        return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short runs (2 s each, 10k-request soak)")
    p.add_argument("--duration", type=float, help="seconds per measured run (default 6, quick 2)")
    p.add_argument("--concurrency", default="1,64,256", help="comma-separated connection counts")
    p.add_argument("--workers", default="1,2", help="comma-separated gateway worker counts")
    p.add_argument("--transport", default=None, help="gateway transport for the main scenarios (default: the config default)")
    p.add_argument("--transports", default="", help="comma-separated transports for the bake-off (default: all)")
    p.add_argument("--delay-ms", type=int, default=0, help="fake upstream delay before answering")
    p.add_argument("--out", default=None,
                   help="results directory (default benchmarks/results/tmp/, untracked)")
    p.add_argument("--commit-results", action="store_true",
                   help="write the tracked benchmarks/results/ and update the README's table")
    # --- peers: LLMG against haproxy, LiteLLM and Portkey; see benchmarks/peer_bench.py
    p.add_argument("--peers", action="store_true",
                   help="instead of the suite: LLMG, haproxy, LiteLLM and Portkey in front of the same fake, same run")
    p.add_argument("--peer-names", default="", help="comma-separated peers for --peers (default: haproxy,litellm,portkey)")
    # --- soak (benchmarks/soak.py): leaks over time, instead of the throughput suite ---
    p.add_argument("--soak", type=float, metavar="MINUTES", help="run only the leak soak for MINUTES (e.g. 30)")
    p.add_argument("--soak-rate", type=float, default=50.0, help="soak requests per second (default 50)")
    p.add_argument("--soak-every", type=float, default=5.0, help="seconds between soak samples (default 5)")
    args = p.parse_args(argv)
    # A run only rewrites tracked files when asked to: by default it lands in an ignored folder.
    if args.out is None:
        args.out = str(RESULTS if args.commit_results else SCRATCH)
    elif args.commit_results:
        p.error("--commit-results writes benchmarks/results/; it cannot be combined with --out")
    if args.transport is None:
        from llmg.config import ServerConfig

        args.transport = ServerConfig().transport
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.peers:
        from . import peer_bench

        return peer_bench.main(args)
    if args.soak:
        from . import soak

        return soak.main(args.soak, args.soak_rate, args.soak_every, Path(args.out))
    tools.ensure_packages()
    data = Bench(args).run()
    data["meta"]["default_transport"] = args.transport
    out = Path(args.out)
    paths = report.write(data, out)
    if args.commit_results and report.update_readme(RESULTS.parent.parent / "README.md", data):
        paths.append(RESULTS.parent.parent / "README.md")
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
