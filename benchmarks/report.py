"""Turn a benchmark run into ``results.json``, ``results.md`` and ``results.png``.

Derived figures: for every (kind, concurrency, workers) the gateway row is paired with the direct
row of the same run and tool, giving added latency per percentile and the throughput ratio; the
targets are checked against those figures and the soak.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import time
from pathlib import Path

import msgspec

from . import tools

_VERSIONED = ("llmg", "sanic", "msgspec", "aiohttp", "httpx", "httpx-aiohttp", "pyreqwest", "uvloop")


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    from llmg.transports import TRANSPORTS

    for name in TRANSPORTS:  # whatever extra clients the bake-off measured
        dist = {"pyreqwest": "pyreqwest", "aiosonic": "aiosonic", "niquests": "niquests"}.get(name)
        if dist:
            try:
                versions[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                pass
    try:
        versions.update(tools.tool_versions())
    except (OSError, IndexError):
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent).stdout.strip()
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "cores": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "git_commit": commit or "unknown",
        "versions": versions,
    }


# --- derived figures --------------------------------------------------------------------------


def _find(rows: list[dict], **match) -> dict | None:
    for row in rows:
        if all(row.get(k) == v for k, v in match.items()):
            return row
    return None


def comparisons(rows: list[dict]) -> list[dict]:
    out = []
    for gw in rows:
        if gw["target"] != "gateway" or gw.get("section") not in ("overhead", "hey", "sse"):
            continue
        direct = _find(rows, target="direct", section=gw["section"], kind=gw["kind"], concurrency=gw["concurrency"], tool=gw["tool"])
        if direct is None:
            continue
        item = {"section": gw["section"], "tool": gw["tool"], "kind": gw["kind"], "concurrency": gw["concurrency"],
                "workers": gw.get("workers")}
        if gw["section"] == "sse":
            for p in ("p50", "p90", "p99"):
                item[f"added_ttfc_{p}_ms"] = gw[f"ttfc_{p}_ms"] - direct[f"ttfc_{p}_ms"]
            item["chunks_per_s_gateway"] = gw["chunks_per_s"]
            item["chunks_per_s_direct"] = direct["chunks_per_s"]
            item["chunks_ratio"] = gw["chunks_per_s"] / direct["chunks_per_s"] if direct["chunks_per_s"] else None
        else:
            for p in ("p50", "p90", "p99"):
                item[f"added_{p}_ms"] = gw[f"{p}_ms"] - direct[f"{p}_ms"]
            item["rps_gateway"] = gw["rps"]
            item["rps_direct"] = direct["rps"]
            item["rps_ratio"] = gw["rps"] / direct["rps"] if direct["rps"] else None
            item["errors"] = gw["errors"]
        out.append(item)
    return out


def transport_ratios(rows: list[dict]) -> list[dict]:
    """Per transport and kind, the best round (a shared machine only ever slows a run down)."""
    out = []
    for kind in ("plain", "stream"):
        best_of: dict[str, dict] = {}
        for r in rows:
            if r.get("section") == "transports" and r["kind"] == kind:
                if r["transport"] not in best_of or r["rps"] > best_of[r["transport"]]["rps"]:
                    best_of[r["transport"]] = r
        if not best_of:
            continue
        httpx = best_of.get("httpx", {}).get("rps")
        best = max(r["rps"] for r in best_of.values())
        for r in sorted(best_of.values(), key=lambda r: -r["rps"]):
            rounds = [x["rps"] for x in rows if x.get("section") == "transports" and x["kind"] == kind and x["transport"] == r["transport"]]
            out.append({"kind": kind, "transport": r["transport"], "rps": r["rps"], "rps_rounds": rounds,
                        "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "errors": sum(
                            x["errors"] for x in rows if x.get("section") == "transports" and x["kind"] == kind and x["transport"] == r["transport"]),
                        "cpu_s_per_1k": r["cpu_s_per_1k"],
                        "vs_best": r["rps"] / best if best else None,
                        "vs_httpx": r["rps"] / httpx if httpx else None})
    return out


def targets(rows: list[dict], comps: list[dict], soak: dict) -> list[dict]:
    def comp(**m):
        return _find(comps, section="overhead", **m) or {}

    c64 = _find(rows, section="overhead", target="gateway", kind="plain", concurrency=64, workers=1) or {}
    c1 = comp(kind="plain", concurrency=1, workers=1)
    c64c = comp(kind="plain", concurrency=64, workers=1)
    sse = _find(comps, section="sse", concurrency=1) or {}
    # (name, goal text, measured, limit, ">=" or "<=")
    checks = [
        ("1 worker, c64, non-streamed: req/s", ">= 5000", c64.get("rps"), 5000, ">="),
        ("1 worker, c64, non-streamed: errors", "0", c64.get("errors"), 0, "<="),
        ("added p50 at c1 (ms)", "<= 0.3", c1.get("added_p50_ms"), 0.3, "<="),
        ("added p99 at c1 (ms)", "<= 1", c1.get("added_p99_ms"), 1.0, "<="),
        ("added p99 at c64 (ms)", "<= 5", c64c.get("added_p99_ms"), 5.0, "<="),
        ("stream: added TTFC p50 at c1 (ms)", "<= 1", sse.get("added_ttfc_p50_ms"), 1.0, "<="),
        (f"peak RSS per worker after {soak.get('requests', 0):,} requests (MB)", "<= 120", soak.get("peak_rss_mb"), 120, "<="),
        ("RSS growth over the soak's second half (MB)", "~0 (<= 5)", soak.get("growth_second_half_mb"), 5, "<="),
    ]
    out = []
    for name, goal, value, limit, sense in checks:
        met = None if value is None else (value >= limit if sense == ">=" else value <= limit)
        if value is None:
            margin = None
        elif sense == ">=":
            margin = f"{value / limit:.2f}x the goal"
        else:
            margin = f"{abs(limit - value):.3g} {'under' if met else 'over'}"
        out.append({"target": name, "goal": goal, "measured": value, "met": met, "margin": margin})
    return out


# --- writers ----------------------------------------------------------------------------------


def _f(v, nd=2) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def markdown(data: dict) -> str:
    meta, rows = data["meta"], data["rows"]
    v = meta["versions"]
    lines = [
        f"Run {meta['date_utc']} UTC ({meta['mode']}, {meta['duration_s']:g} s per measurement, {meta['wall_s']:g} s in all), "
        f"commit {meta['git_commit']}. Machine: {meta['cores']} cores, {meta['cpu_model']}, Linux {meta['kernel']}; "
        f"load average {meta['loadavg_start'][0]:.2f} at start, {meta['loadavg_end'][0]:.2f} at end "
        "(the machine is shared: absolute figures are noisy, ratios less so).",
        f"Python {v['python']}, llmg {v.get('llmg')}, sanic {v.get('sanic')}, msgspec {v.get('msgspec')}, "
        f"aiohttp {v.get('aiohttp')}, httpx {v.get('httpx')}, httpx-aiohttp {v.get('httpx-aiohttp')}, pyreqwest {v.get('pyreqwest')}, "
        f"uvloop {v.get('uvloop')}; "
        f"{v.get('wrk', 'wrk')}, hey {v.get('hey')}, {v.get('nginx', 'nginx')} + echo module {v.get('nginx-echo-module')}. "
        f"Gateway transport: {meta.get('default_transport')}.",
        "",
        "**Targets**",
        "",
        "| target | goal | measured | met | how far |",
        "|---|---|---|---|---|",
    ]
    for t in data["targets"]:
        met = "yes" if t["met"] else "NO" if t["met"] is False else "not run"
        lines.append(f"| {t['target']} | {t['goal']} | {_f(t['measured'], 3)} | {met} | {t['margin'] or '–'} |")
    lines += [
        "",
        "**Proxy overhead** (wrk; latency in ms; added = gateway − direct at the same percentile)",
        "",
        "| kind | conc. | target | req/s | p50 | p90 | p99 | added p50 | added p90 | added p99 | gw/direct req/s | errors | CPU s / 1k req | peak RSS MB/worker | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    comps = data["comparisons"]
    for r in rows:
        if r.get("section") != "overhead":
            continue
        c = _find(comps, section="overhead", kind=r["kind"], concurrency=r["concurrency"], workers=r.get("workers")) if r["target"] == "gateway" else {}
        c = c or {}
        label = "direct (nginx)" if r["target"] == "direct" else f"gateway, {r['workers']} worker{'s' if r['workers'] > 1 else ''}"
        rss = ", ".join(f"{m:.0f}" for m in r.get("peak_rss_mb", [])) or "–"
        lines.append(
            f"| {r['kind']} | {r['concurrency']} | {label} | {r['rps']:,.0f} | {r['p50_ms']:.3f} | {r['p90_ms']:.3f} | {r['p99_ms']:.3f} "
            f"| {_f(c.get('added_p50_ms'), 3)} | {_f(c.get('added_p90_ms'), 3)} | {_f(c.get('added_p99_ms'), 3)} "
            f"| {_f(c.get('rps_ratio'), 3)} | {r['errors']} | {_f(r.get('cpu_s_per_1k'), 3)} | {rss} | {_f(r.get('loadavg_1m'))} |"
        )
    lines += [
        "",
        "**Streams** (own SSE client, 11 events per stream; TTFC = time to the first `data:` event, ms)",
        "",
        "| conc. | target | streams/s | chunks/s | TTFC p50 | TTFC p90 | TTFC p99 | added TTFC p50 | added TTFC p99 | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("section") != "sse":
            continue
        c = (_find(comps, section="sse", concurrency=r["concurrency"]) or {}) if r["target"] == "gateway" else {}
        lines.append(
            f"| {r['concurrency']} | {r['target']} | {r['streams_per_s']:,.0f} | {r['chunks_per_s']:,.0f} | {r['ttfc_p50_ms']:.3f} "
            f"| {r['ttfc_p90_ms']:.3f} | {r['ttfc_p99_ms']:.3f} | {_f(c.get('added_ttfc_p50_ms'), 3)} | {_f(c.get('added_ttfc_p99_ms'), 3)} | {r['errors']} |"
        )
    lines += ["", "**Cross-check with hey** (non-streamed, c64, 1 worker)", "",
              "| target | req/s | p50 | p90 | p99 | errors |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("section") == "hey":
            lines.append(f"| {r['target']} | {r['rps']:,.0f} | {r['p50_ms']:.3f} | {r['p90_ms']:.3f} | {r['p99_ms']:.3f} | {r['errors']} |")
    lines += ["", "**Transport bake-off** (inside the gateway, 1 worker, wrk c64, all candidates side by side in the same run, "
              "measured in turn; best round shown, every round listed)", "",
              "| kind | transport | req/s | rounds | p50 | p99 | CPU s / 1k req | vs fastest | vs httpx | errors |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for t in data["transports"]:
        rounds = " / ".join(f"{x:,.0f}" for x in t["rps_rounds"])
        lines.append(f"| {t['kind']} | {t['transport']} | {t['rps']:,.0f} | {rounds} | {t['p50_ms']:.3f} | {t['p99_ms']:.3f} | {_f(t['cpu_s_per_1k'], 3)} "
                     f"| {_f(t['vs_best'])} | {_f(t['vs_httpx'])} | {t['errors']} |")
    soak = data["soak"]
    lines += ["", f"**Memory soak**: {soak['requests']:,} non-streamed requests at c64 through 1 worker, {soak['errors']} errors; "
              f"RSS (MB) by requests served: " + ", ".join(f"{s['requests']:,}: {s['rss_mb']:.1f}" for s in soak["samples"][:: max(1, len(soak['samples']) // 8)])
              + f"; end {soak['rss_end_mb']:.1f}, peak {soak['peak_rss_mb']:.1f}, growth over the second half {soak['growth_second_half_mb']:+.1f}."]
    prof = data.get("profile")
    if prof and "by_package" in prof:
        shares = ", ".join(f"{k} {v:.0%}" for k, v in list(prof["by_package"].items())[:6])
        lines += ["", f"**Profile** ({prof['scenario']}; py-spy, all threads): self time by package: {shares}. "
                  "Top frames: [profile.md](profile.md)."]
    return "\n".join(lines) + "\n"


def chart(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in data["rows"] if r.get("section") == "overhead"]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    # 1: req/s per scenario
    ax = axes[0][0]
    labels, series = [], {}
    for kind in ("plain", "stream"):
        for c in sorted({r["concurrency"] for r in rows}):
            labels.append(f"{kind}\nc{c}")
            for r in rows:
                if r["kind"] == kind and r["concurrency"] == c:
                    key = "direct" if r["target"] == "direct" else f"gateway w{r['workers']}"
                    series.setdefault(key, []).append(r["rps"])
    width = 0.8 / max(1, len(series))
    for i, (key, values) in enumerate(series.items()):
        ax.bar([x + i * width for x in range(len(values))], values, width, label=key)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(labels))], labels)
    ax.set_yscale("log")
    ax.set_ylabel("requests/s (log)")
    ax.set_title("Throughput: direct vs through the gateway (wrk)")
    ax.legend()
    # 2: added latency
    ax = axes[0][1]
    comps = [c for c in data["comparisons"] if c["section"] == "overhead"]
    names = [f"{c['kind']} c{c['concurrency']} w{c['workers']}" for c in comps]
    for i, p in enumerate(("p50", "p90", "p99")):
        ax.barh([y + i * 0.27 for y in range(len(comps))], [max(c[f"added_{p}_ms"], 0.001) for c in comps], 0.27, label=f"added {p}")
    ax.set_yticks([y + 0.27 for y in range(len(comps))], names)
    ax.set_xscale("log")
    ax.set_xlabel("added latency, ms (log)")
    ax.set_title("Added latency, gateway − direct")
    ax.legend()
    # 3: transports
    ax = axes[1][0]
    ts = data["transports"]
    order = [t["transport"] for t in ts if t["kind"] == "plain"] or [t["transport"] for t in ts]
    for i, kind in enumerate(("plain", "stream")):
        rps = {t["transport"]: t["rps"] for t in ts if t["kind"] == kind}
        ax.bar([x + i * 0.4 for x in range(len(order))], [rps.get(name, 0) for name in order], 0.4, label=kind)
    ax.set_xticks([x + 0.2 for x in range(len(order))], order)
    ax.set_ylabel("requests/s")
    ax.set_title("Upstream transport bake-off (1 worker, c64)")
    ax.legend()
    # 4: soak
    ax = axes[1][1]
    s = data["soak"]["samples"]
    ax.plot([p["requests"] for p in s], [p["rss_mb"] for p in s], marker="o")
    ax.axhline(120, color="red", linestyle="--", label="target 120 MB")
    ax.set_xlabel("requests served")
    ax.set_ylabel("worker RSS, MB")
    ax.set_ylim(0, 140)
    ax.set_title("Memory over the soak (1 worker)")
    ax.legend()
    meta = data["meta"]
    fig.suptitle(f"LLMG proxy overhead — {meta['date_utc']} UTC, {meta['cores']} cores {meta['cpu_model']}, load {meta['loadavg_start'][0]:.1f}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(data: dict, out: Path) -> list[Path]:
    data["comparisons"] = comparisons(data["rows"])
    data["transports"] = transport_ratios(data["rows"])
    data["targets"] = targets(data["rows"], data["comparisons"], data["soak"])
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.json", out / "results.md", out / "results.png"]
    if data.get("profile"):
        from .profile import markdown as profile_markdown

        (out / "profile.md").write_text(profile_markdown(data["profile"]))
        paths.append(out / "profile.md")
    paths[0].write_bytes(msgspec.json.format(msgspec.json.encode(data), indent=2) + b"\n")
    paths[1].write_text(markdown(data))
    chart(data, paths[2])
    return paths


README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def update_readme(readme: Path, data: dict) -> bool:
    """Replace the text between the bench markers of the top-level README with the latest results."""
    if not readme.exists():
        return False
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    section = (
        "## Benchmarks\n\n"
        "Proxy overhead against an instant fake upstream (nginx + echo), measured with wrk and hey in the same run as\n"
        "the upstream alone; \"added\" = gateway − direct at the same percentile. Reproduce with `./dev bench`\n"
        "(or `./dev bench --quick`); method, tools and profile notes: [benchmarks/README.md](benchmarks/README.md);\n"
        "all figures: [benchmarks/results/](benchmarks/results/results.md).\n\n"
        + markdown(data).replace("](profile.md)", "](benchmarks/results/profile.md)")
        + "\n![benchmark chart](benchmarks/results/results.png)\n"
    )
    readme.write_text(head + README_START + "\n" + section + README_END + tail)
    return True
