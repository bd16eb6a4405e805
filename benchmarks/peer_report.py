"""Turn a peer run into ``peers.json``, ``peers.md`` and ``peers.png`` (and the README's peer table).

The targets are ratios within the one run (issue 19): absolute figures differ between machines,
ratios between targets measured side by side much less.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

LLMG = "llmg w1"
FLOOR_MS = 0.01  # below this an "added" latency is noise: a ratio against it would be meaningless


def _row(rows: list[dict], target: str, kind: str, c: int, section: str = "peers") -> dict | None:
    for r in rows:
        if r["section"] == section and r["target"] == target and r["kind"] == kind and r["concurrency"] == c:
            return r
    return None


def _get(rows: list[dict], target: str, kind: str, c: int, field: str, section: str = "peers") -> float | None:
    r = _row(rows, target, kind, c, section)
    return None if r is None else r.get(field)


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def targets(data: dict) -> list[dict]:
    rows, peers = data["rows"], data["meta"].get("peers", {})
    failures = data["meta"].get("failures", {})

    def why_missing(kind: str, *names: str) -> str:
        """Why a ratio over ``names`` (peers and LLMG targets) has no value: the first reason found."""
        for n in names:
            st = peers.get(n) or {}
            if st.get("status") == "failed":
                return f"{n} failed: {st.get('reason', '')[:160]}"
            if n in failures:
                return f"{n} failed: {failures[n][:160]}"
            if kind == "stream" and str(st.get("streams", "")).startswith("failed"):
                return f"{n} streams {st['streams'][:160]}"
            if kind == "stream" and f"{n} streams" in failures:
                return f"{n} streams failed: {failures[n + ' streams'][:160]}"
            if any(r["target"] == n and r["section"] == "peers" and r["kind"] == kind and not r["requests"] for r in rows):
                return f"{n} completed no request within a measurement"
        present = {r["target"] for r in rows}
        for n in names:
            if n not in present:
                return f"{n} not in this run"
        return "a concurrency it needs was not in this run's --concurrency"

    rps = lambda t, k, c=64: _get(rows, t, k, c, "rps")  # noqa: E731
    ttfc = {t: _get(rows, t, "stream", 1, "ttfc_p50_ms", "peers-sse") for t in (LLMG, "haproxy", "direct")}
    added_llmg = None if ttfc[LLMG] is None or ttfc["direct"] is None else ttfc[LLMG] - ttfc["direct"]
    added_hap = None if ttfc["haproxy"] is None or ttfc["direct"] is None else max(ttfc["haproxy"] - ttfc["direct"], FLOOR_MS)
    checks = [
        # (name, goal, value, limit, sense, kind, targets it needs: the peer first, LLMG after)
        ("throughput per worker, plain c64: LLMG / haproxy", ">= 0.15", _div(rps(LLMG, "plain"), rps("haproxy", "plain")), 0.15, ">=", "plain", ("haproxy", LLMG)),
        ("c1 p50, plain: LLMG / haproxy", "<= 3", _div(_get(rows, LLMG, "plain", 1, "p50_ms"), _get(rows, "haproxy", "plain", 1, "p50_ms")), 3, "<=", "plain", ("haproxy", LLMG)),
        ("overload, plain c256, 1 worker: p99 / p50", "<= 10", _div(_get(rows, LLMG, "plain", 256, "p99_ms"), _get(rows, LLMG, "plain", 256, "p50_ms")), 10, "<=", "plain", (LLMG,)),
        ("overload, stream c256, 1 worker: p99 / p50", "<= 10", _div(_get(rows, LLMG, "stream", 256, "p99_ms"), _get(rows, LLMG, "stream", 256, "p50_ms")), 10, "<=", "stream", (LLMG,)),
        ("streams: req/s c64 streamed / plain", ">= 0.8", _div(rps(LLMG, "stream"), rps(LLMG, "plain")), 0.8, ">=", "stream", (LLMG,)),
        (f"added TTFC at c1: LLMG / haproxy (haproxy floored at {FLOOR_MS} ms)", "<= 2", _div(added_llmg, added_hap), 2, "<=", "stream", ("haproxy", LLMG, "direct")),
        ("2 workers / 1 worker, plain c64", ">= 1.6", _div(rps("llmg w2", "plain"), rps(LLMG, "plain")), 1.6, ">=", "plain", ("llmg w2", LLMG)),
        ("LLMG / LiteLLM, plain c64 req/s", ">= 50", _div(rps(LLMG, "plain"), rps("litellm", "plain")), 50, ">=", "plain", ("litellm", LLMG)),
        ("LLMG / LiteLLM, stream c64 req/s", ">= 50", _div(rps(LLMG, "stream"), rps("litellm", "stream")), 50, ">=", "stream", ("litellm", LLMG)),
        ("LLMG / Portkey, plain c64 req/s", ">= 8", _div(rps(LLMG, "plain"), rps("portkey", "plain")), 8, ">=", "plain", ("portkey", LLMG)),
        ("LLMG / Portkey, stream c64 req/s", ">= 8", _div(rps(LLMG, "stream"), rps("portkey", "stream")), 8, ">=", "stream", ("portkey", LLMG)),
    ]
    out = []
    for name, goal, value, limit, sense, kind, needs in checks:
        met = None if value is None else (value >= limit if sense == ">=" else value <= limit)
        note = why_missing(kind, *needs) if value is None else ""
        if note.startswith(needs[0]) and "completed no request" in note and sense == ">=" and needs[-1] == LLMG:
            met = True  # LLMG finished requests, the peer none: the ratio is unbounded
        out.append({"target": name, "goal": goal, "measured": value, "met": met, "note": note})
    return out


# --- writers ----------------------------------------------------------------------------------


def _f(v, nd: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _tail(row: dict | None) -> str:
    if row is None:
        return "– / –"
    if not row["requests"]:
        return "none finished"  # every request still in flight when the measurement ended
    return f"{row['p50_ms']:,.1f} / {row['p99_ms']:,.1f}"


def _names(data: dict) -> list[str]:
    seen: list[str] = []
    for r in data["rows"]:
        if r["target"] not in seen:
            seen.append(r["target"])
    return seen


def _label(name: str, meta: dict) -> str:
    v = meta.get("versions", {})
    if name == "direct":
        return f"nginx direct ({v.get('nginx', 'nginx')})"
    if name.startswith("llmg"):
        w = name.split("w")[-1]
        return f"**LLMG {v.get('llmg', '')}** ({w} worker{'s' if w != '1' else ''}, {meta.get('default_transport')})"
    st = meta.get("peers", {}).get(name, {})
    pretty = {"haproxy": "haproxy", "litellm": "LiteLLM proxy", "portkey": "Portkey gateway"}.get(name, name)
    extra = {"haproxy": ", 1 thread", "litellm": ", 1 worker", "portkey": ", 1 process"}.get(name, "")
    return f"{pretty} {st.get('version', '')}{extra}"


def markdown(data: dict) -> str:
    meta, rows = data["meta"], data["rows"]
    v = meta["versions"]
    conc = sorted({r["concurrency"] for r in rows if r["section"] == "peers"})
    lines = [
        f"Run {meta['date_utc']} UTC ({meta['mode']}, {meta['duration_s']:g} s per measurement, {meta['wall_s']:g} s in all), "
        f"commit {meta['git_commit']}. Machine: {meta['cores']} cores, {meta['cpu_model']}, Linux {meta['kernel']}; "
        f"load average {meta['loadavg_start'][0]:.2f} at start, {meta['loadavg_end'][0]:.2f} at end. "
        "Every target sits in front of the same nginx fake and is loaded by the same wrk script with the same "
        "threads and durations, in turn, in one run; a target gets a longer re-run (column s) of a cell where it "
        "finished fewer than two answers per connection, and is left to finish abandoned requests before each "
        "measurement. Absolute figures vary a lot between machines (and with the "
        "load of a shared one); compare the ratios.",
        f"Python {v['python']}, sanic {v.get('sanic')}, {v.get('wrk', 'wrk')}, {v.get('nginx', 'nginx')}.",
        "",
    ]
    notes = 0
    measured = {r["target"] for r in rows}
    for name, st in meta.get("peers", {}).items():
        if st.get("status") != "measured":
            what = "failed during the run (its figures up to then are shown)" if name in measured else "not measured"
            lines.append(f"- **{name}: {what}** — {st.get('status')}: {st.get('reason', '')}")
            notes += 1
        elif st.get("streams"):
            lines.append(f"- **{name}: streams not measured** — {st['streams']}")
            notes += 1
    for name, reason in meta.get("failures", {}).items():
        if name.split(" streams")[0] not in meta.get("peers", {}):  # LLMG or the fake itself
            lines.append(f"- **{name}: failed during the run** — {reason}")
            notes += 1
    if notes:
        lines.append("")
    lines += ["| target | plain c64 req/s | stream c64 req/s | plain c1 p50 ms | stream c1 TTFC p50 ms | "
              + " | ".join(f"c{c} p50 / p99 ms (plain; stream)" for c in conc if c > 64) + (" | " if any(c > 64 for c in conc) else "")
              + "CPU s / 1k req (plain c64) | errors |",
              "|---|---|---|---|---|" + "---|" * sum(1 for c in conc if c > 64) + "---|---|"]
    for name in _names(data):
        if name not in {r["target"] for r in rows if r["section"] == "peers"}:
            continue
        tails = ""
        for c in conc:
            if c <= 64:
                continue
            tails += "; ".join(_tail(_row(rows, name, kind, c)) for kind in ("plain", "stream")) + " | "
        errors = sum(r["errors"] for r in rows if r["target"] == name)
        lines.append(
            f"| {_label(name, meta)} | {_f(_get(rows, name, 'plain', 64, 'rps'), 0)} | {_f(_get(rows, name, 'stream', 64, 'rps'), 0)} "
            f"| {_f(_get(rows, name, 'plain', 1, 'p50_ms'), 3)} | {_f(_get(rows, name, 'stream', 1, 'ttfc_p50_ms', 'peers-sse'), 3)} "
            f"| {tails}{_f(_get(rows, name, 'plain', 64, 'cpu_s_per_1k'), 3)} | {errors} |")
    lines += ["", "**Ratio targets** (from one run)", "", "| target | goal | measured | met |", "|---|---|---|---|"]
    for t in data["targets"]:
        met = "yes" if t["met"] else "NO" if t["met"] is False else "not computed"
        if t["note"]:
            met += f" ({t['note']})"
        lines.append(f"| {t['target']} | {t['goal']} | {_f(t['measured'], 3)} | {met} |")
    lines += ["", "<details><summary>Every measurement</summary>", "",
              "| kind | conc. | target | s | req/s | p50 | p90 | p99 | max | errors | CPU s / 1k req | load |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["section"] == "peers":
            secs = r.get("duration_s", meta["duration_s"])
            lines.append(f"| {r['kind']} | {r['concurrency']} | {r['target']} | {secs:g} | {r['rps']:,.0f} | {r['p50_ms']:.3f} | {r['p90_ms']:.3f} "
                         f"| {r['p99_ms']:.3f} | {r.get('max_ms', 0):.1f} | {r['errors']} | {_f(r.get('cpu_s_per_1k'), 3)} | {_f(r.get('loadavg_1m'))} |")
    lines += ["", "| SSE c1 | TTFC p50 | TTFC p99 | streams/s | errors |", "|---|---|---|---|---|"]
    for r in rows:
        if r["section"] == "peers-sse":
            lines.append(f"| {r['target']} | {r['ttfc_p50_ms']:.3f} | {r['ttfc_p99_ms']:.3f} | {r['streams_per_s']:,.0f} | {r['errors']} |")
    lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def chart(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, meta = data["rows"], data["meta"]
    names = [n for n in _names(data) if _row(rows, n, "plain", 64)]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    ax = axes[0]
    for i, kind in enumerate(("plain", "stream")):
        ax.bar([x + i * 0.4 for x in range(len(names))], [_get(rows, n, kind, 64, "rps") or 0 for n in names], 0.4, label=kind)
    ax.set_xticks([x + 0.2 for x in range(len(names))], names)
    ax.set_yscale("log")
    ax.set_ylabel("requests/s at c64 (log)")
    ax.set_title("Throughput at c64 (wrk, same run)")
    ax.legend()
    ax = axes[1]
    for i, (label, kind, field, section) in enumerate((("plain c1 p50", "plain", "p50_ms", "peers"),
                                                       ("stream c1 TTFC p50", "stream", "ttfc_p50_ms", "peers-sse"))):
        ax.bar([x + i * 0.4 for x in range(len(names))], [_get(rows, n, kind, 1, field, section) or 0 for n in names], 0.4, label=label)
    ax.set_xticks([x + 0.2 for x in range(len(names))], names)
    ax.set_yscale("log")
    ax.set_ylabel("ms (log)")
    ax.set_title("Latency at c1")
    ax.legend()
    failed = [n for n, s in meta.get("peers", {}).items() if s.get("status") != "measured"]
    note = f"; not measured: {', '.join(failed)}" if failed else ""
    fig.suptitle(f"LLMG and peers — {meta['date_utc']} UTC, {meta['cores']} cores, load {meta['loadavg_start'][0]:.1f}{note}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(data: dict, out: Path) -> list[Path]:
    data["targets"] = targets(data)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "peers.json", out / "peers.md", out / "peers.png"]
    paths[0].write_bytes(msgspec.json.format(msgspec.json.encode(data), indent=2) + b"\n")
    paths[1].write_text(markdown(data))
    chart(data, paths[2])
    return paths


README_START, README_END = "<!-- peers:start -->", "<!-- peers:end -->"


def update_readme(readme: Path, data: dict) -> bool:
    """Replace the text between the peer markers of the top-level README with this run's table."""
    if not readme.exists():
        return False
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    section = ("\n" + markdown(data).replace("](peers.png)", "](benchmarks/results/peers.png)")
               + "\n![LLMG and peers](benchmarks/results/peers.png)\n")
    readme.write_text(head + README_START + section + README_END + tail)
    return True
