"""The benchmark's measuring and results-writing code, on a tiny run that needs no published tool.

The real suite drives nginx with wrk and hey (``./dev bench``); here our own measured client
(``benchmarks.client``) loads the fake OpenAI upstream directly and the real gateway in front of
it, and ``benchmarks.report`` writes the JSON, Markdown and PNG results from those rows. Nothing
here asserts a speed: only that the figures are measured, paired and written consistently.
"""

from __future__ import annotations

import msgspec

from benchmarks import client, procstat, report
from benchmarks.payloads import request_body
from tests.conftest import FAKE_OPENAI_KEY

CHAT = "/v1/chat/completions"


def test_tiny_run_is_measured_and_written(openai_fake, openai_gateway, tmp_path) -> None:
    direct_url, gateway_url = openai_fake.url + CHAT, openai_gateway.url + CHAT
    direct_auth, gateway_auth = f"Bearer {FAKE_OPENAI_KEY}", openai_gateway.auth["Authorization"]
    pid = openai_gateway.proc.pid
    rows = []
    for target, url, auth, model in (("direct", direct_url, direct_auth, "gpt-4o"),
                                      ("gateway", gateway_url, gateway_auth, "openai/gpt-4o")):
        cpu0 = procstat.cpu_seconds(pid)
        plain = client.measure_plain(url, request_body(model, False), auth, 2, 0.3)
        cpu = procstat.cpu_seconds(pid) - cpu0
        assert plain["requests"] > 0 and plain["errors"] == 0, plain
        assert 0 < plain["p50_ms"] <= plain["p90_ms"] <= plain["p99_ms"]
        extra = {"workers": 1, "transport": "default", "peak_rss_mb": [procstat.memory_kb(pid)[1] / 1024]} if target == "gateway" else {}
        rows.append({"section": "overhead", "kind": "plain", "target": target, "concurrency": 2, **plain,
                     "cpu_s_per_1k": cpu / plain["requests"] * 1000, **extra})
        stream = client.measure(url, request_body(model, True), auth, 1, 0.3)
        assert stream["streams"] > 0 and stream["errors"] == 0, stream
        assert stream["events_per_stream"] >= 2  # at least one content event and [DONE]
        assert 0 < stream["ttfc_p50_ms"] <= stream["total_p50_ms"]
        rows.append({"section": "sse", "kind": "stream", "target": target, "concurrency": 1, **stream,
                     **({"workers": 1} if target == "gateway" else {})})

    rss = procstat.memory_kb(pid)[0] / 1024
    meta = report.machine()
    meta.update(mode="test", duration_s=0.3, wall_s=1.0, loadavg_start=(0.0, 0.0, 0.0),
                loadavg_end=(0.0, 0.0, 0.0), default_transport="default")
    data = {"meta": meta, "rows": rows,
            "soak": {"requests": 10, "errors": 0, "samples": [{"requests": 0, "rss_mb": rss}, {"requests": 10, "rss_mb": rss}],
                     "peak_rss_mb": rss, "rss_end_mb": rss, "growth_second_half_mb": 0.0}}
    paths = report.write(data, tmp_path)

    assert [p.name for p in paths] == ["results.json", "results.md", "results.png"]
    saved = msgspec.json.decode(paths[0].read_bytes())
    assert saved["meta"]["cores"] >= 1 and saved["meta"]["versions"]["sanic"]
    direct, gateway = rows[0], rows[2]
    overhead = [c for c in saved["comparisons"] if c["section"] == "overhead"]
    assert len(overhead) == 1
    assert overhead[0]["added_p50_ms"] == gateway["p50_ms"] - direct["p50_ms"]
    assert overhead[0]["rps_ratio"] == gateway["rps"] / direct["rps"]
    sse = [c for c in saved["comparisons"] if c["section"] == "sse"]
    assert sse[0]["added_ttfc_p50_ms"] == rows[3]["ttfc_p50_ms"] - rows[1]["ttfc_p50_ms"]
    by_name = {t["target"]: t for t in saved["targets"]}
    assert by_name["stream: added TTFC p50 at c1 (ms)"]["measured"] == sse[0]["added_ttfc_p50_ms"]
    assert by_name["1 worker, c64, non-streamed: req/s"]["measured"] is None  # c64 was not run
    table = paths[1].read_text()
    assert "| plain | 2 | gateway, 1 worker |" in table and "| 1 | gateway |" in table
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_writes_tracked_results_only_when_asked() -> None:
    """`./dev bench` used to rewrite benchmarks/results/ and the README on every run."""
    from pathlib import Path

    from benchmarks import run

    default = run.parse_args([])
    assert Path(default.out) == run.SCRATCH and not default.commit_results
    root = run.RESULTS.parent.parent
    ignored = (root / ".gitignore").read_text().splitlines()
    assert run.SCRATCH.relative_to(root).as_posix() + "/" in ignored, "the scratch folder must be ignored by git"
    committed = run.parse_args(["--commit-results"])
    assert Path(committed.out) == run.RESULTS and committed.commit_results
    assert Path(run.parse_args(["--out", "/tmp/x"]).out) == Path("/tmp/x")
