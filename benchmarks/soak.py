"""``./dev bench --soak MINUTES``: a fixed request rate for a long time, watching for leaks.

The traffic mixes the four things a gateway meets all day: complete answers, streams, errors
(upstream 5xx and a gateway 404) and clients that walk away in the middle of a stream. One
gateway worker (the real ``llmg serve``, with ``server.debug_stats``) sits in front of the
scriptable fake upstream of the fault suite. Every ``--soak-every`` seconds the worker's RSS and
open fds are read from /proc and its asyncio task count from /debug/stats.

Flat is the target: RSS at the end within 10% of RSS after the warm-up (the first tenth of the
run, at least 30 s), and fds and tasks back where they were. Writes ``benchmarks/results/soak.json``,
``soak.md`` and ``soak.png``.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path

import httpx

from . import procstat

KINDS = ("plain", "stream", "error", "abort")
# Per 20 requests: 10 plain, 5 streamed, 3 errors, 2 aborted streams.
MIX = ["plain"] * 10 + ["stream"] * 5 + ["error"] * 3 + ["abort"] * 2


def _config(upstream_url: str) -> str:
    return f"""
[server]
debug_stats = true
[logging]
level = "warning"
[providers.faulty]
base_url = "{upstream_url}/v1"
timeout = 10
"""


class Soak:
    def __init__(self, minutes: float, rate: float, every: float, out: Path) -> None:
        self.seconds = minutes * 60
        self.rate = rate
        self.every = every
        self.out = out
        self.counts = {k: 0 for k in KINDS}
        self.failures: dict[str, int] = {}
        self.samples: list[dict] = []

    def log(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    async def one(self, client: httpx.AsyncClient, kind: str) -> None:
        url = "/v1/chat/completions"
        msgs = [{"role": "user", "content": "hi"}]
        try:
            if kind == "plain":
                r = await client.post(url, json={"model": "faulty/ok", "messages": msgs})
                ok = r.status_code == 200
            elif kind == "error":
                model = "faulty/error-503" if self.counts["error"] % 2 else "nosuch/model"
                r = await client.post(url, json={"model": model, "messages": msgs})
                ok = r.status_code in (404, 502) and "error" in r.json()
            else:
                model = "faulty/forever" if kind == "abort" else "faulty/ok"
                events = 0
                async with client.stream("POST", url, json={"model": model, "messages": msgs, "stream": True}) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("data: "):
                            events += 1
                            if kind == "abort" and events == 2:
                                break  # the client walks away mid-stream
                ok = events == (2 if kind == "abort" else 4)
        except httpx.HTTPError as exc:
            ok = False
            self.failures[type(exc).__name__] = self.failures.get(type(exc).__name__, 0) + 1
        self.counts[kind] += 1
        if not ok:
            self.failures[kind] = self.failures.get(kind, 0) + 1

    def sample(self, gateway, elapsed: float) -> dict:
        pid = gateway.proc.pid
        rss, _ = procstat.memory_kb(pid)
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        stats = httpx.get(f"{gateway.url}/debug/stats", headers=gateway.auth, timeout=10).json()
        row = {"t_s": round(elapsed, 1), "requests": sum(self.counts.values()), "rss_mb": round(rss / 1024, 1),
               "fds": fds, "tasks": stats["tasks"], "streams": stats["streams"]}
        self.samples.append(row)
        return row

    async def drive(self, gateway) -> None:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.auth, timeout=30, limits=limits) as client:
            start = time.monotonic()
            pending: set[asyncio.Task] = set()
            next_sample = 0.0
            i = 0
            while (elapsed := time.monotonic() - start) < self.seconds:
                if elapsed >= next_sample:
                    row = await asyncio.to_thread(self.sample, gateway, elapsed)
                    self.log(f"  {row}")
                    next_sample += self.every
                task = asyncio.create_task(self.one(client, MIX[i % len(MIX)]))
                pending.add(task)
                task.add_done_callback(pending.discard)
                i += 1
                # Fixed rate: the next request is due at i / rate, however long the last one took.
                await asyncio.sleep(max(0.0, start + i / self.rate - time.monotonic()))
            await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.sleep(2)  # let the gateway close what the client just closed
        self.sample(gateway, time.monotonic() - start)

    def run(self) -> dict:
        from tests.fakes import faulty_upstream
        from tests.gateway import GatewayProcess

        upstream = faulty_upstream.start()
        gateway = GatewayProcess(_config(upstream.url)).start()
        self.log(f"soak: {self.seconds / 60:.1f} min at {self.rate:.0f} req/s through 1 worker (pid {gateway.proc.pid})")
        try:
            asyncio.run(self.drive(gateway))
        finally:
            gateway.stop()
            upstream.stop()
        return self.summary()

    def summary(self) -> dict:
        warm_t = max(30.0, self.seconds / 10)
        warm = next((s for s in self.samples if s["t_s"] >= warm_t), self.samples[0])
        end = self.samples[-1]
        growth = (end["rss_mb"] - warm["rss_mb"]) / warm["rss_mb"] * 100 if warm["rss_mb"] else 0.0
        return {
            "minutes": round(self.seconds / 60, 2),
            "rate_per_s": self.rate,
            "mix": {k: MIX.count(k) / len(MIX) for k in KINDS},
            "requests": dict(self.counts),
            "failures": self.failures,
            "after_warmup": warm,
            "end": end,
            "rss_growth_pct": round(growth, 1),
            "flat": abs(growth) <= 10.0,
            "samples": self.samples,
            "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "loadavg_end": os.getloadavg()},
        }


def markdown(result: dict) -> str:
    warm, end = result["after_warmup"], result["end"]
    total = sum(result["requests"].values())
    lines = [
        f"# Soak: {result['minutes']} min at {result['rate_per_s']:.0f} req/s, 1 worker",
        "",
        "Mix per 20 requests: 10 plain, 5 streamed, 3 errors (upstream 503, unknown provider), "
        "2 streams the client abandons after 2 events.",
        "",
        f"Requests: {total} ({', '.join(f'{k} {v}' for k, v in result['requests'].items())}); "
        f"unexpected answers: {sum(result['failures'].values()) if result['failures'] else 0} {result['failures'] or ''}",
        "",
        "| | t (s) | requests | RSS (MB) | fds | asyncio tasks | open streams |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| after warm-up | {warm['t_s']} | {warm['requests']} | {warm['rss_mb']} | {warm['fds']} | {warm['tasks']} | {warm['streams']} |",
        f"| end (idle) | {end['t_s']} | {end['requests']} | {end['rss_mb']} | {end['fds']} | {end['tasks']} | {end['streams']} |",
        "",
        f"RSS growth after warm-up: {result['rss_growth_pct']}% (target: within 10%) — "
        f"{'flat' if result['flat'] else 'NOT flat'}. Load average at the end: "
        f"{', '.join(f'{x:.2f}' for x in result['machine']['loadavg_end'])} on {result['machine']['cores']} cores (shared machine).",
        "",
    ]
    return "\n".join(lines)


def chart(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t_s"] / 60 for s in result["samples"]]
    fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    for ax, key, label in zip(axes, ("rss_mb", "fds", "tasks"), ("RSS (MB)", "open fds", "asyncio tasks")):
        ax.plot(t, [s[key] for s in result["samples"]], marker=".")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    axes[-1].set_xlabel("minutes")
    fig.suptitle(f"Soak: {result['minutes']} min at {result['rate_per_s']:.0f} req/s (plain, stream, error, abort)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(minutes: float, rate: float, every: float, out: Path) -> int:
    result = Soak(minutes, rate, every, out).run()
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "soak.md").write_text(markdown(result))
    chart(result, out / "soak.png")
    print(markdown(result))
    for name in ("soak.json", "soak.md", "soak.png"):
        print(out / name)
    return 0 if result["flat"] and not result["failures"] else 1
