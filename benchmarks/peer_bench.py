"""``./dev bench --peers``: LLMG, haproxy, LiteLLM and Portkey in front of the same fake, same run.

Every target gets the same wrk script, threads, durations and connection counts (plain and
streamed, each concurrency of ``--concurrency``), and the same SSE client for time to first chunk
at c1. The targets are measured in turn for each (kind, concurrency) cell, so a burst of load from
elsewhere on a shared machine spreads over all of them instead of landing on one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from . import client, peer_report, report, tools
from .gateway import Gateway
from .payloads import GATEWAY_MODEL, GATEWAY_TOKEN, MODEL, UPSTREAM_KEY, request_body
from .peers import PEERS, Peer, PeerUnavailable
from .tools import free_port
from .upstream import Upstream

CHAT = "/v1/chat/completions"
SSE = "text/event-stream"
RESULTS = Path(__file__).resolve().parent / "results"
SCRATCH = RESULTS / "tmp"
# The order of the tables: the limits first, then LLMG, then the other gateways.
ORDER = ["direct", "haproxy", "llmg w1", "llmg w2", "portkey", "litellm"]
SETTLE_WINDOW_S = 0.1  # a target is idle when it used less than SETTLE_IDLE_SHARE of a core
SETTLE_IDLE_SHARE = 0.05  # over one window (what an idle event loop's timers cost is below that)
SETTLE_MAX_S = 15.0
LONG_RUN_S = 30.0  # the longest re-run of a cell whose first run finished too few requests


class Target:
    """Something wrk can load: its URL, the body's model, its auth and any routing headers."""

    def __init__(self, name: str, server, model: str, auth: str, headers: dict[str, str] | None = None,
                 stream_headers: dict[str, str] | None = None, streams: bool = True) -> None:
        self.name, self.server, self.model, self.auth = name, server, model, auth
        self.streams = streams
        self.failed = ""  # why this target is measured no further in this run
        self.plain_headers = headers or {}
        self.stream_headers = {**self.plain_headers, **(stream_headers or {})}
        self.url = server.url

    def headers(self, kind: str) -> dict[str, str]:
        return self.stream_headers if kind == "stream" else self.plain_headers


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def output_dir(args: argparse.Namespace) -> tuple[Path, bool]:
    """Where the peer results go and whether they are the committed ones (README updated too).

    Only the explicit ``--commit-results`` writes the tracked folder; a plain run whose ``--out``
    is still the tracked default goes to the ignored scratch folder instead.
    """
    commit = bool(getattr(args, "commit_results", False))
    out = Path(args.out) if getattr(args, "out", None) else (RESULTS if commit else SCRATCH)
    if not commit and out.resolve() == RESULTS.resolve():
        out = SCRATCH
    return out, commit


class PeerBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.duration = args.duration or (2.0 if args.quick else 6.0)
        self.warmup = 1.0
        self.concurrency = [int(c) for c in args.concurrency.split(",")]
        self.workers = [int(w) for w in args.workers.split(",")]
        self.names = [n for n in (args.peer_names or ",".join(PEERS)).split(",") if n]
        unknown = set(self.names) - set(PEERS)
        if unknown:
            raise SystemExit(f"--peer-names: unknown {sorted(unknown)}; known: {', '.join(PEERS)}")
        self.rows: list[dict] = []
        self.status: dict[str, dict] = {}  # per peer: installed / measured / failed, version, reason
        self.failures: dict[str, str] = {}  # per target (LLMG and direct too): what stopped its figures
        self._tmp = tempfile.TemporaryDirectory(prefix="llmg-bench-peers-")
        self._bodies: dict[tuple[str, str], Path] = {}

    def body(self, model: str, kind: str) -> Path:
        key = (model, kind)
        if key not in self._bodies:
            path = Path(self._tmp.name) / f"{model.replace('/', '_')}-{kind}.json"
            path.write_bytes(request_body(model, kind == "stream"))
            self._bodies[key] = path
        return self._bodies[key]

    def wrk(self, t: Target, kind: str, c: int, duration: float) -> dict:
        return tools.wrk(t.url + CHAT, self.body(t.model, kind), t.auth, c, duration,
                         SSE if kind == "stream" else "", t.headers(kind))

    def fail(self, t: Target, kind: str, reason: str) -> None:
        """Keep why a target's figures stop here: a stream failure ends its stream cells, anything
        else all of its cells. Reported in the table and in the ratios, never dropped."""
        reason = reason[-500:]
        _log(f"  {t.name}: {kind} FAILED, not measured further: {reason}")
        st = self.status.get(t.name)
        if kind == "stream":
            t.streams = False
            self.failures.setdefault(f"{t.name} streams", reason)
            if st is not None:
                st.setdefault("streams", f"failed: {reason}")
        else:
            t.failed = reason
            self.failures.setdefault(t.name, reason)
            if st is not None:
                st.update(status="failed", reason=reason)

    def _check_alive(self, t: Target) -> None:
        gone = t.server.exited() if isinstance(t.server, Peer) else ""
        if gone and not t.failed:
            self.fail(t, "process", gone)

    @staticmethod
    def settle(t: Target) -> float:
        """Wait (up to SETTLE_MAX_S) until the target stops burning CPU; returns the seconds waited.

        wrk closes its connections with requests still in flight when a run ends; a slow target
        (LiteLLM at c64 takes seconds per request) goes on working on them. Without this, those
        abandoned requests would eat into its own next measurement, or into the next target's.
        """
        start = time.monotonic()
        last = t.server.cpu_seconds()
        while time.monotonic() - start < SETTLE_MAX_S:
            time.sleep(SETTLE_WINDOW_S)
            now = t.server.cpu_seconds()
            if now - last < SETTLE_WINDOW_S * SETTLE_IDLE_SHARE:
                break
            last = now
        return time.monotonic() - start

    def _run(self, t: Target, kind: str, c: int, duration: float) -> tuple[dict, float]:
        self.wrk(t, kind, c, self.warmup)
        self.settle(t)
        cpu0 = t.server.cpu_seconds()
        result = self.wrk(t, kind, c, duration)
        cpu = t.server.cpu_seconds() - cpu0
        self.settle(t)
        return result, cpu

    def measure(self, t: Target, kind: str, c: int) -> None:
        try:
            duration = self.duration
            result, cpu = self._run(t, kind, c, duration)
            timeouts_only = result["errors"] == result.get("error_detail", {}).get("timeout", 0)
            if result["requests"] < 2 * c and timeouts_only:
                # Fewer answers than two per connection: the target's latency at c is about the
                # length of the run, so a short run counts almost nothing it did. Measure again,
                # long enough for that latency (its tail still times out at wrk's 10 s, as for all).
                duration = min(LONG_RUN_S, max(4 * self.duration, 10.0))
                _log(f"  {kind:6} c{c:<3} {t.name:8} only {result['requests']} answers in {self.duration:g} s: "
                     f"again for {duration:g} s")
                result, cpu = self._run(t, kind, c, duration)
        except Exception as exc:  # wrk gave no result, a timeout, ...: reported, the run goes on
            gone = t.server.exited() if isinstance(t.server, Peer) else ""  # the likelier cause, if so
            self.fail(t, "process" if gone else kind, gone or f"{kind} c{c}: {type(exc).__name__}: {exc}")
            return
        self._check_alive(t)
        row = {"section": "peers", "target": t.name, "kind": kind, "concurrency": c, **result,
               "duration_s": duration,
               "cpu_s_per_1k": cpu / result["requests"] * 1000 if result["requests"] else None,
               "loadavg_1m": round(os.getloadavg()[0], 2)}
        self.rows.append(row)
        _log(f"  {kind:6} c{c:<3} {t.name:8} {result['rps']:9.0f} req/s  p50 {result['p50_ms']:8.3f}  "
             f"p99 {result['p99_ms']:8.3f} ms  errors {result['errors']}")

    def measure_sse(self, t: Target) -> None:
        body = request_body(t.model, True)
        try:
            client.measure(t.url + CHAT, body, t.auth, 1, self.warmup, t.headers("stream"))
            result = client.measure(t.url + CHAT, body, t.auth, 1, self.duration, t.headers("stream"))
        except Exception as exc:
            self.fail(t, "stream", f"time to first chunk: {type(exc).__name__}: {exc}")
            return
        self.rows.append({"section": "peers-sse", "target": t.name, "kind": "stream", "concurrency": 1, **result,
                          "loadavg_1m": round(os.getloadavg()[0], 2)})
        _log(f"  sse c1 {t.name:8} TTFC p50 {result['ttfc_p50_ms']:.3f} p99 {result['ttfc_p99_ms']:.3f} ms  "
             f"errors {result['errors']}")

    def start_peers(self, upstream: Upstream, status: dict) -> list[Target]:
        started: list[Target] = []
        for name in self.names:
            peer: Peer = PEERS[name]()
            _log(f"peer {name}: installing / checking ...")
            try:
                version = peer.install()
                status[name] = {"status": "installed", "version": version}
                peer.start(free_port(), upstream.url)
            except Exception as exc:  # PeerUnavailable, a subprocess timeout, anything: reported, not fatal
                peer.stop()
                reason = str(exc) if isinstance(exc, PeerUnavailable) else f"{type(exc).__name__}: {exc}"
                status.setdefault(name, {}).update(status="failed", reason=reason[-500:])
                _log(f"peer {name}: FAILED: {reason}")
                continue
            status[name]["status"] = "measured"
            status[name]["warmup_requests"] = peer.warmed_up
            if peer.stream_error:
                status[name]["streams"] = f"failed: {peer.stream_error}"
                _log(f"peer {name}: streamed requests FAIL, measuring plain ones only: {peer.stream_error}")
            _log(f"peer {name} {version}: up on {peer.url}")
            started.append(Target(name, peer, peer.model, peer.auth, peer.headers, peer.stream_headers,
                                  streams=not peer.stream_error))
        return started

    def run(self) -> dict:
        meta = report.machine()
        meta.update(mode="quick" if self.args.quick else "full", duration_s=self.duration,
                    loadavg_start=os.getloadavg())
        started_at = time.monotonic()
        status = self.status
        upstream = Upstream(free_port()).start()
        servers: list = []
        try:
            targets = [Target("direct", upstream, MODEL, f"Bearer {UPSTREAM_KEY}")]
            peers = self.start_peers(upstream, status)
            servers += [t.server for t in peers]
            for w in self.workers:
                gw = Gateway(free_port(), upstream.url, workers=w, transport=self.args.transport).start()
                servers.append(gw)
                targets.append(Target(f"llmg w{w}", gw, GATEWAY_MODEL, f"Bearer {GATEWAY_TOKEN}"))
            targets += peers
            targets.sort(key=lambda t: ORDER.index(t.name) if t.name in ORDER else len(ORDER))
            _log(f"measuring {', '.join(t.name for t in targets)} (wrk, {self.duration:g} s each)")
            for kind in ("plain", "stream"):
                for c in self.concurrency:
                    for t in targets:
                        if not t.failed and (kind == "plain" or t.streams):
                            self.measure(t, kind, c)
            _log("time to first chunk (own SSE client, c1)")
            for t in targets:
                if not t.failed and t.streams:
                    self.measure_sse(t)
        finally:
            for server in servers:
                server.stop()
            upstream.stop()
        meta["loadavg_end"] = os.getloadavg()
        meta["wall_s"] = round(time.monotonic() - started_at, 1)
        meta["default_transport"] = self.args.transport
        meta["peers"] = status
        meta["failures"] = self.failures
        return {"meta": meta, "rows": self.rows}


def main(args: argparse.Namespace) -> int:
    """Entry from ``benchmarks.run --peers``."""
    out, commit = output_dir(args)
    tools.ensure_packages()
    data = PeerBench(args).run()
    paths = peer_report.write(data, out)
    readme = RESULTS.parent.parent / "README.md"
    if commit and peer_report.update_readme(readme, data):
        paths.append(readme)
    for path in paths:
        print(path)
    return 0
