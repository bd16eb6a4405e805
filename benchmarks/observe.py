"""What metrics and the json access log cost: throughput of one gateway with them on against one
with them off, in the same run (issue 15: under 5%).

    .venv/bin/python -m benchmarks.observe [--rounds 5] [--duration 2] [--concurrency 64]
                                           [--upstream nginx|mock|both] [--out PATH]

Two real gateways (`python -m llmg serve`, 1 worker) run side by side, in front of the upstream of
`./dev bench` (nginx with canned OpenAI answers, benchmarks/upstream.py, reached over the gateway's
HTTP transport) or of the offline mock provider (no upstream at all: the gateway's own work is
all there is, so the share of metrics and logging is at its largest);
only one is loaded at a time, in alternating rounds (off, on, off, on, ...), so the machine's noise
falls on both alike. "on" = [metrics] enabled + access_log with format "json" (lines written to
the gateway's log file, as in production to a file or a pipe). Plain and streamed chat requests,
measured by benchmarks/client.py over keep-alive connections. The headline is the median round.

On a shared, loaded machine req/s swings by 2-5x between rounds whatever is measured, so the
gateway's own CPU time per request (user + system of its process tree, from /proc) is reported
too: with one worker at saturation, throughput is the inverse of it, and it is far less noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import msgspec

from benchmarks import procstat, profile
from benchmarks.client import measure, measure_plain
from benchmarks.payloads import GATEWAY_MODEL, UPSTREAM_KEY, request_body
from benchmarks.tools import free_port
from benchmarks.upstream import Upstream
from tests.gateway import GatewayProcess

PLAIN = msgspec.json.encode({"model": "mock/mock-1", "messages": [{"role": "user", "content": "Hi"}]})
STREAM = msgspec.json.encode({"model": "mock/mock-1", "messages": [{"role": "user", "content": "Hi"}], "stream": True})
BODIES = {"mock": (PLAIN, STREAM), "nginx": (request_body(GATEWAY_MODEL, False), request_body(GATEWAY_MODEL, True))}


def _nginx_provider(url: str) -> str:
    return f"""
[providers.openai]
api_key = "{UPSTREAM_KEY}"
base_url = "{url}/v1"
models = ["gpt-4o"]
"""

OFF = """
[logging]
level = "warning"
[server]
access_log = false
[providers.mock]
"""
ON = """
[logging]
level = "info"
format = "json"
[server]
access_log = true
[metrics]
enabled = true
key = "bench-scrape"
[providers.mock]
"""


def _cpu(gw: GatewayProcess) -> float:
    return sum(procstat.cpu_seconds(pid) for pid in procstat.tree(gw.proc.pid))


def run(rounds: int, duration: float, concurrency: int, on: str = ON,
        upstream: str = "mock") -> dict[str, dict[str, list[float]]]:
    nginx = Upstream(free_port()).start() if upstream == "nginx" else None
    off = OFF
    if nginx is not None:  # the same gateways, the openai provider pointed at nginx instead of the mock
        off, on = (c.replace("[providers.mock]", _nginx_provider(nginx.url)) for c in (OFF, on))
    plain_body, stream_body = BODIES[upstream]
    try:
        gateways = {"off": GatewayProcess(off).start(), "on": GatewayProcess(on).start()}
    except BaseException:
        if nginx is not None:
            nginx.stop()
        raise
    results: dict[str, dict[str, list[float]]] = {k: {"off": [], "on": []}
                                                  for k in ("plain", "stream", "plain_cpu_us", "stream_cpu_us")}
    try:
        for gw in gateways.values():  # warm-up
            measure_plain(f"{gw.url}/v1/chat/completions", plain_body, f"Bearer {gw.token}", concurrency, 0.5)
        for i in range(rounds):
            order = ("off", "on") if i % 2 == 0 else ("on", "off")
            for name in order:
                gw = gateways[name]
                cpu0 = _cpu(gw)
                plain = measure_plain(f"{gw.url}/v1/chat/completions", plain_body, f"Bearer {gw.token}", concurrency, duration)
                results["plain"][name].append(plain["rps"])
                results["plain_cpu_us"][name].append((_cpu(gw) - cpu0) / max(1, plain["requests"]) * 1e6)
            for name in order:
                gw = gateways[name]
                cpu0 = _cpu(gw)
                stream = measure(f"{gw.url}/v1/chat/completions", stream_body, f"Bearer {gw.token}", concurrency, duration)
                results["stream"][name].append(stream["streams_per_s"])
                results["stream_cpu_us"][name].append((_cpu(gw) - cpu0) / max(1, stream["streams"]) * 1e6)
        lines = sum(1 for line in gateways["on"].output().splitlines() if '"latency_ms"' in line)
        results["access_lines"] = {"on": [float(lines)], "off": []}
    finally:
        for gw in gateways.values():
            gw.stop()
        if nginx is not None:
            nginx.stop()
    return results


UPSTREAMS = {"nginx": "the openai provider in front of nginx (the upstream of `./dev bench`)",
             "mock": "the offline mock provider (no upstream: the worst case)"}


def report(results: dict, rounds: int, duration: float, concurrency: int, upstream: str = "mock") -> str:
    load = os.getloadavg()[0]
    out = [
        f"## {upstream}: {UPSTREAMS[upstream]}",
        "",
        f"`python -m benchmarks.observe --upstream {upstream} --rounds {rounds} --duration {duration} "
        f"--concurrency {concurrency}`; 1 worker each, {os.cpu_count()} CPUs, load average {load:.1f} at the end "
        "(shared machine). on/off: the median of the per-round ratios (each round loads off and on back to back).",
        "",
        "| requests | off (median) | on (median) | on/off | cost | rounds off | rounds on |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, unit in (("plain", "req/s"), ("stream", "streams/s"), ("plain_cpu_us", "CPU µs/req"),
                       ("stream_cpu_us", "CPU µs/stream")):
        off, on = results[kind]["off"], results[kind]["on"]
        m_off, m_on = statistics.median(off), statistics.median(on)
        # Paired: round i's off and on ran back to back, so their ratio cancels the load of that moment.
        ratio = statistics.median(b / a for a, b in zip(off, on, strict=True) if a)
        cost = (1 - ratio) * 100 if "cpu" not in kind else (ratio - 1) * 100
        out.append(f"| {kind} | {m_off:.0f} {unit} | {m_on:.0f} {unit} | {ratio:.3f} | {cost:+.1f}% | "
                   f"{', '.join(f'{v:.0f}' for v in off)} | {', '.join(f'{v:.0f}' for v in on)} |")
    out += ["", f"Access lines written by the \"on\" gateway: {results['access_lines']['on'][0]:.0f}."]
    return "\n".join(out) + "\n"


# Frames that are metrics and logging: a sample counts as theirs when the innermost llmg frame
# of its stack is one of these (library code they call, msgspec or prometheus-client, included).
_OBSERVE_FRAMES = ("llmg/observe/", "llmg/limits/usage.py", "access_json (llmg/logs.py", "_write (llmg/logs.py",
                   "flush_access (llmg/logs.py")
_MIDDLEWARE = ("_run_request_middleware", "_run_response_middleware")


def _attribute(raw: Path) -> tuple[int, float, float, list[tuple[str, float]]]:
    """(samples, observe share, Sanic middleware-runner share, top observe frames) of a py-spy raw file."""
    total = observe = runner = 0
    frames: dict[str, int] = {}
    for stack, n in profile.raw_samples(raw):
        total += n
        for frame in reversed(stack.split(";")):
            if "(llmg/" in frame:
                if any(mark in frame for mark in _OBSERVE_FRAMES):
                    observe += n
                    frames[frame] = frames.get(frame, 0) + n
                break
            if any(mark in frame for mark in _MIDDLEWARE):  # Sanic running a middleware: ours are 2 of them
                runner += n
                break
    top = sorted(frames.items(), key=lambda kv: -kv[1])[:12]
    return total, observe / max(1, total), runner / max(1, total), [(f, n / max(1, total)) for f, n in top]


def profile_on(duration: float, concurrency: int, upstream: str) -> str:
    """py-spy on the "on" gateway's worker under load: the share of its CPU samples spent in metrics
    and logging. Unlike req/s, a share inside one process is not moved by the machine's other load."""

    nginx = Upstream(free_port()).start() if upstream == "nginx" else None
    on = ON if nginx is None else ON.replace("[providers.mock]", _nginx_provider(nginx.url))
    plain_body, stream_body = BODIES[upstream]
    out = [f"## Profile of the \"on\" gateway ({upstream})", "",
           f"`python -m benchmarks.observe --profile --upstream {upstream} --duration {duration}`: py-spy at 250 Hz on "
           "its worker; a sample is metrics-and-logging when the innermost llmg frame of its stack is in llmg/observe/, "
           "llmg/limits/usage.py or the access-line writer. Cost = share / (1 - share): what the same work costs "
           "without them.", "",
           "| requests | samples | metrics + logging | Sanic middleware runner | cost |", "|---|---|---|---|---|"]
    details: list[str] = []
    gw = GatewayProcess(on).start()
    try:
        url = f"{gw.url}/v1/chat/completions"
        measure_plain(url, plain_body, f"Bearer {gw.token}", concurrency, 0.5)
        pid = procstat.tree(gw.proc.pid)[-1]
        with tempfile.TemporaryDirectory() as tmp:
            for kind in ("plain", "stream"):
                raw = Path(tmp) / f"{kind}.raw"
                spy = profile.start(pid, duration, raw)
                if spy is None:
                    return "py-spy not installed (bench extra)\n"
                if kind == "plain":
                    measure_plain(url, plain_body, f"Bearer {gw.token}", concurrency, duration + 0.5)
                else:
                    measure(url, stream_body, f"Bearer {gw.token}", concurrency, duration + 0.5)
                spy.wait()
                total, share, runner, top = _attribute(raw)
                cost = (share + runner) / max(1e-9, 1 - share - runner) * 100
                out.append(f"| {kind} | {total} | {share:.1%} | {runner:.1%} | +{cost:.1f}% |")
                details += ["", f"{kind}, top metrics-and-logging frames (share of all samples):", ""]
                details += [f"- `{frame}` {v:.1%}" for frame, v in top]
    finally:
        gw.stop()
        if nginx is not None:
            nginx.stop()
    return "\n".join(out + details) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=float, default=2.0)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--out", default=None, help="write the markdown table here too")
    p.add_argument("--only", choices=("metrics", "log"), help="turn on only one of the two")
    p.add_argument("--upstream", choices=("nginx", "mock", "both"), default="both",
                   help="nginx: the ./dev bench upstream over HTTP; mock: the in-process mock provider")
    p.add_argument("--profile", action="store_true", help="also py-spy the on gateway: the share of its CPU that is ours")
    args = p.parse_args(argv)
    on = ON
    if args.only == "metrics":
        on = ON.replace("access_log = true", "access_log = false")
    elif args.only == "log":
        on = ON.replace("enabled = true", "enabled = false")
    text = "# Metrics + json access log: cost in throughput\n\n"
    for upstream in (("nginx", "mock") if args.upstream == "both" else (args.upstream,)):
        text += report(run(args.rounds, args.duration, args.concurrency, on, upstream), args.rounds, args.duration,
                       args.concurrency, upstream) + "\n"
        if args.profile:
            text += profile_on(max(3.0, args.duration * 3), args.concurrency, upstream) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
