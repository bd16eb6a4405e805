"""The published load tools (wrk, hey) and the Debian packages the suite needs.

``ensure_packages`` installs whatever is missing with apt-get (the suite runs as root on a fresh
machine); the runners return plain dicts with requests/s, latency percentiles (ms) and errors.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import msgspec

from .upstream import ECHO_MODULE

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "wrk" / "post.lua"

# binary or file that must exist -> Debian package providing it
_NEEDED = {"wrk": "wrk", "hey": "hey", "nginx": "nginx", ECHO_MODULE: "libnginx-mod-http-echo"}


def missing_packages() -> list[str]:
    missing = []
    for what, package in _NEEDED.items():
        present = Path(what).exists() if what.startswith("/") else shutil.which(what) is not None
        if not present:
            missing.append(package)
    return missing


def ensure_packages() -> None:
    missing = missing_packages()
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"benchmarks need Debian packages {missing}: run as root or apt-get install them")
    print(f"installing {' '.join(missing)} with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=env)
    # Debian starts the packaged nginx service on install where it can; the suite runs its own.
    still = missing_packages()
    if still:
        raise SystemExit(f"could not install {still}")


def tool_versions() -> dict[str, str]:
    out = {}
    for cmd, args in (("wrk", ["-v"]), ("nginx", ["-v"])):
        r = subprocess.run([cmd, *args], capture_output=True, text=True)
        out[cmd] = (r.stdout + r.stderr).strip().splitlines()[0].split(" [")[0].replace("nginx version: ", "")
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "hey"], capture_output=True, text=True)
    out["hey"] = r.stdout.strip() or "unknown"
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libnginx-mod-http-echo"], capture_output=True, text=True)
    out["nginx-echo-module"] = r.stdout.strip() or "unknown"
    return out


def wrk(url: str, body_file: Path, auth: str, concurrency: int, duration: float, accept: str = "",
        headers: dict[str, str] | None = None) -> dict:
    threads = 1 if concurrency < 64 else 2
    env = {**os.environ, "BENCH_BODY_FILE": str(body_file), "BENCH_AUTH": auth, "BENCH_ACCEPT": accept,
           "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in (headers or {}).items())}
    cmd = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
           "-s", str(WRK_SCRIPT), url]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=duration + 60)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {r.stdout}\n{r.stderr}")
    raw = msgspec.json.decode(line[len("BENCH_JSON "):])
    seconds = raw["duration_us"] / 1e6
    lat = raw["latency_us"]
    return {
        "tool": "wrk",
        "requests": raw["requests"],
        "seconds": seconds,
        "rps": raw["requests"] / seconds if seconds else 0.0,
        "errors": sum(raw["errors"].values()),
        "error_detail": raw["errors"],
        "p50_ms": lat["p50"] / 1000,
        "p90_ms": lat["p90"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "p999_ms": lat["p999"] / 1000,
        "mean_ms": lat["mean"] / 1000,
        "max_ms": lat["max"] / 1000,
    }


_HEY_PCT = re.compile(r"^\s*(\d+)%\s+in\s+([\d.]+)\s+secs", re.M)


def hey(url: str, body_file: Path, auth: str, concurrency: int, duration: float, accept: str = "") -> dict:
    cmd = ["hey", "-z", f"{max(1, round(duration))}s", "-c", str(concurrency), "-m", "POST",
           "-T", "application/json", "-H", f"Authorization: {auth}", "-D", str(body_file)]
    if accept:
        cmd += ["-H", f"Accept: {accept}"]
    r = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=duration + 60)
    text = r.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if rps is None:
        raise RuntimeError(f"hey gave no result: {text}\n{r.stderr}")
    pct = {int(p): float(s) * 1000 for p, s in _HEY_PCT.findall(text)}
    statuses = {int(code): int(n) for code, n in re.findall(r"\[(\d{3})\]\s+(\d+)\s+responses", text)}
    ok = statuses.get(200, 0)
    errors_section = text.split("Error distribution:", 1)
    transport_errors = sum(int(n) for n in re.findall(r"\[(\d+)\]", errors_section[1])) if len(errors_section) > 1 else 0
    total = sum(statuses.values())
    return {
        "tool": "hey",
        "requests": total,
        "seconds": round(duration),
        "rps": float(rps.group(1)),
        "errors": total - ok + transport_errors,
        "p50_ms": pct.get(50, 0.0),
        "p90_ms": pct.get(90, 0.0),
        "p99_ms": pct.get(99, 0.0),
    }


def free_port() -> int:
    """A free loopback port for a fake upstream, a gateway or a peer (one helper for every runner)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
