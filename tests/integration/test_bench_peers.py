"""The peer benchmark (``./dev bench --peers``): its load tools, a real peer, and its results writer.

Nothing here asserts a speed. The real run installs LiteLLM and Portkey (minutes); here we check
what that run depends on: the extra routing headers Portkey needs reach the server from both load
tools, haproxy really proxies to the nginx fake, a peer that cannot be installed
is reported with its reason, and the results land in the untracked folder unless asked otherwise.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import msgspec
import pytest

from benchmarks import client, peer_bench, peer_report, tools
from benchmarks.payloads import request_body
from benchmarks.peers import HAProxy, PeerUnavailable, Portkey
from tests.conftest import FAKE_OPENAI_KEY

CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def bench_tools() -> None:
    """wrk, hey, nginx + echo and haproxy from Debian, installed with apt-get when missing (as the
    Redis tests install redis-server), so these tests run on a fresh machine instead of skipping."""
    tools.ensure_packages()
    if shutil.which("haproxy") is None:
        HAProxy(home=Path("/tmp/llmg-test-haproxy")).install()

ROUTING = {"x-portkey-provider": "openai", "x-portkey-custom-host": "http://127.0.0.1:1/v1"}


@pytest.mark.usefixtures("bench_tools")
def test_wrk_sends_the_extra_headers(openai_fake, tmp_path) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(request_body("gpt-4o", False))
    before = len(openai_fake.requests)
    result = tools.wrk(openai_fake.url + CHAT, body, f"Bearer {FAKE_OPENAI_KEY}", 1, 1, "", ROUTING)
    assert result["requests"] > 0 and result["errors"] == 0, result
    seen = openai_fake.requests[before:]
    assert seen and all(r.headers.get("x-portkey-provider") == "openai" for r in seen)
    assert seen[0].headers.get("x-portkey-custom-host") == ROUTING["x-portkey-custom-host"]


def test_sse_client_sends_the_extra_headers(openai_fake) -> None:
    before = len(openai_fake.requests)
    result = client.measure(openai_fake.url + CHAT, request_body("gpt-4o", True), f"Bearer {FAKE_OPENAI_KEY}", 1, 0.3, ROUTING)
    assert result["streams"] > 0 and result["errors"] == 0, result
    assert all(r.headers.get("x-portkey-provider") == "openai" for r in openai_fake.requests[before:])


@pytest.mark.usefixtures("bench_tools")
def test_haproxy_peer_proxies_plain_and_streamed_to_the_fake(tmp_path) -> None:
    from benchmarks.upstream import Upstream

    upstream = Upstream(peer_bench.free_port()).start()
    peer = HAProxy(home=tmp_path)
    try:
        assert peer.install()  # a version string
        peer.start(peer_bench.free_port(), upstream.url)  # start() itself checks a plain and a streamed answer
        result = client.measure(peer.url + CHAT, request_body("gpt-4o", True), peer.auth, 1, 0.3)
        assert result["streams"] > 0 and result["errors"] == 0 and result["events_per_stream"] == 11
        assert peer.cpu_seconds() >= 0 and peer.pids()
    finally:
        peer.stop()
        upstream.stop()
    assert peer.proc.poll() is not None


def test_a_peer_that_cannot_be_installed_is_reported_not_dropped(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no node, no npm
    with pytest.raises(PeerUnavailable, match="node/npm not installed"):
        Portkey(home=tmp_path).install()
    args = argparse.Namespace(duration=1, quick=True, concurrency="1", workers="1", peer_names="portkey", transport="hybrid")
    bench = peer_bench.PeerBench(args)
    status: dict = {}
    assert bench.start_peers(upstream=None, status=status) == []  # type: ignore[arg-type]
    assert status["portkey"]["status"] == "failed" and "node/npm" in status["portkey"]["reason"]


def _row(target: str, kind: str, c: int, rps: float, p50: float, p99: float) -> dict:
    return {"section": "peers", "target": target, "kind": kind, "concurrency": c, "tool": "wrk", "requests": int(rps),
            "rps": rps, "p50_ms": p50, "p90_ms": p50, "p99_ms": p99, "max_ms": p99, "errors": 0,
            "cpu_s_per_1k": 0.1, "loadavg_1m": 1.0}


def _sse(target: str, ttfc: float) -> dict:
    return {"section": "peers-sse", "target": target, "kind": "stream", "concurrency": 1, "streams": 10, "errors": 0,
            "streams_per_s": 10.0, "ttfc_p50_ms": ttfc, "ttfc_p99_ms": ttfc, "loadavg_1m": 1.0}


def test_results_show_ratios_and_the_failed_peer(tmp_path) -> None:
    from benchmarks import report

    rows = []
    for name, rps, p50 in (("direct", 80000, 0.03), ("haproxy", 30000, 0.08), ("llmg w1", 6000, 0.2),
                           ("llmg w2", 10000, 0.2), ("litellm", 50, 20.0)):
        for kind in ("plain", "stream"):
            rows += [_row(name, kind, 1, rps / 10, p50, p50 * 2), _row(name, kind, 64, rps * (0.9 if kind == "stream" else 1), p50 * 10, p50 * 30),
                     _row(name, kind, 256, rps, p50 * 40, p50 * 200)]
        rows.append(_sse(name, {"direct": 0.1, "haproxy": 0.2, "llmg w1": 0.4}.get(name, 30.0)))
    meta = report.machine()
    meta.update(mode="test", duration_s=1, wall_s=1, loadavg_start=(1.0, 1.0, 1.0), loadavg_end=(1.0, 1.0, 1.0),
                default_transport="hybrid",
                peers={"haproxy": {"status": "measured", "version": "2.6.12"}, "litellm": {"status": "measured", "version": "1.106.12"},
                       "portkey": {"status": "failed", "reason": "npm install failed: E404"}})
    paths = peer_report.write({"meta": meta, "rows": rows}, tmp_path)
    assert [p.name for p in paths] == ["peers.json", "peers.md", "peers.png"]
    saved = msgspec.json.decode(paths[0].read_bytes())
    by = {t["target"]: t for t in saved["targets"]}
    assert by["throughput per worker, plain c64: LLMG / haproxy"]["measured"] == pytest.approx(0.2)
    assert by["throughput per worker, plain c64: LLMG / haproxy"]["met"] is True
    assert by["c1 p50, plain: LLMG / haproxy"]["measured"] == pytest.approx(2.5)
    assert by["overload, plain c256, 1 worker: p99 / p50"]["measured"] == pytest.approx(5.0)
    assert by["streams: req/s c64 streamed / plain"]["measured"] == pytest.approx(0.9)
    assert by["added TTFC at c1: LLMG / haproxy (haproxy floored at 0.01 ms)"]["measured"] == pytest.approx(3.0)
    assert by["added TTFC at c1: LLMG / haproxy (haproxy floored at 0.01 ms)"]["met"] is False
    assert by["2 workers / 1 worker, plain c64"]["measured"] == pytest.approx(10000 / 6000)
    assert by["LLMG / LiteLLM, plain c64 req/s"]["measured"] == pytest.approx(120)
    assert by["LLMG / Portkey, plain c64 req/s"]["met"] is None
    assert "portkey failed: npm install failed: E404" in by["LLMG / Portkey, plain c64 req/s"]["note"]
    table = paths[1].read_text()
    assert "**portkey: not measured** — failed: npm install failed: E404" in table
    assert "| haproxy 2.6.12, 1 thread | 30,000 |" in table
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # A peer that answers plain requests but fails streamed ones: its stream figures are missing
    # with the reason, in the table and in the stream targets.
    meta["peers"]["portkey"] = {"status": "measured", "version": "1.15.2", "streams": "failed: HTTP 500"}
    rows += [_row("portkey", "plain", c, 500, 9.0, 90.0) for c in (1, 64, 256)]
    again = peer_report.write({"meta": meta, "rows": rows}, tmp_path / "again")
    table = again[1].read_text()
    assert "**portkey: streams not measured** — failed: HTTP 500" in table
    by = {t["target"]: t for t in msgspec.json.decode(again[0].read_bytes())["targets"]}
    assert by["LLMG / Portkey, plain c64 req/s"]["measured"] == pytest.approx(12) and by["LLMG / Portkey, plain c64 req/s"]["met"]
    assert by["LLMG / Portkey, stream c64 req/s"]["met"] is None and "portkey streams failed" in by["LLMG / Portkey, stream c64 req/s"]["note"]

    readme = tmp_path / "README.md"
    readme.write_text("head\n<!-- peers:start -->\nold\n<!-- peers:end -->\ntail\n")
    assert peer_report.update_readme(readme, saved)
    text = readme.read_text()
    assert "old" not in text and "LiteLLM proxy 1.106.12" in text and text.endswith("<!-- peers:end -->\ntail\n")


def test_peer_results_go_to_the_untracked_folder_unless_committed() -> None:
    plain = argparse.Namespace(out=str(peer_bench.RESULTS))  # this branch's default --out
    assert peer_bench.output_dir(plain) == (peer_bench.SCRATCH, False)
    assert peer_bench.output_dir(argparse.Namespace(out=None)) == (peer_bench.SCRATCH, False)
    assert peer_bench.output_dir(argparse.Namespace(out="/tmp/x")) == (Path("/tmp/x"), False)
    committed = argparse.Namespace(out=str(peer_bench.RESULTS), commit_results=True)
    assert peer_bench.output_dir(committed) == (peer_bench.RESULTS, True)


@pytest.mark.usefixtures("bench_tools")
def test_portkey_streams_through_to_the_fake() -> None:
    """Portkey as ``./dev bench --peers`` installs it answers plain and streamed requests.

    Installed from npm on first use (a minute; reused after, in its own folder of PEERS_HOME). A bare
    install resolves @hono/node-server 1.19.x, with which every Portkey stream was an HTTP 500.
    """
    from benchmarks.peers import PEERS_HOME
    from benchmarks.upstream import Upstream

    upstream = Upstream(peer_bench.free_port()).start()
    peer = Portkey(home=PEERS_HOME / "tests")
    try:
        assert peer.install() == "1.15.2"
        peer.start(peer_bench.free_port(), upstream.url)
        assert peer.stream_error == ""  # start() probed a streamed request, [DONE] included
        assert peer.installed_versions()["@hono/node-server"] == "1.13.5"
        assert peer.warmed_up > 0
        result = client.measure(peer.url + CHAT, request_body(peer.model, True), peer.auth, 1, 0.5,
                                {**peer.headers, **peer.stream_headers})
        assert result["streams"] > 0 and result["errors"] == 0 and result["events_per_stream"] == 11, result
    finally:
        peer.stop()
        upstream.stop()


@pytest.mark.usefixtures("bench_tools")
def test_a_peer_that_dies_mid_run_is_reported_with_its_reason(tmp_path) -> None:
    from benchmarks import report
    from benchmarks.upstream import Upstream

    upstream = Upstream(peer_bench.free_port()).start()
    peer = HAProxy(home=tmp_path)
    args = argparse.Namespace(duration=1, quick=True, concurrency="1", workers="1", peer_names="haproxy", transport="hybrid")
    bench = peer_bench.PeerBench(args)
    try:
        peer.install()
        peer.start(peer_bench.free_port(), upstream.url)
        assert peer.warmed_up > 0  # first requests sent before anything is measured
        bench.status["haproxy"] = {"status": "measured", "version": "x"}
        target = peer_bench.Target("haproxy", peer, peer.model, peer.auth)
        bench.measure(target, "plain", 1)
        assert bench.rows[-1]["requests"] > 0 and not target.failed
        peer.proc.kill()
        peer.proc.wait()
        bench.measure(target, "plain", 64)
    finally:
        peer.stop()
        upstream.stop()
    assert target.failed.startswith("exited with -9 during the run")
    assert bench.status["haproxy"]["status"] == "failed"
    meta = report.machine()
    meta.update(mode="test", duration_s=1, wall_s=1, loadavg_start=(1.0, 1.0, 1.0), loadavg_end=(1.0, 1.0, 1.0),
                default_transport="hybrid", peers=bench.status, failures=bench.failures)
    paths = peer_report.write({"meta": meta, "rows": bench.rows}, tmp_path / "out")
    table = paths[1].read_text()
    assert "**haproxy: failed during the run (its figures up to then are shown)** — failed: exited with -9" in table
    by = {t["target"]: t for t in msgspec.json.decode(paths[0].read_bytes())["targets"]}
    ratio = by["throughput per worker, plain c64: LLMG / haproxy"]
    assert ratio["measured"] is None and ratio["met"] is None and ratio["note"].startswith("haproxy failed: exited with -9")
    assert "| not computed (haproxy failed: exited with -9" in table
    assert by["overload, plain c256, 1 worker: p99 / p50"]["note"] == "llmg w1 not in this run"


@pytest.mark.usefixtures("bench_tools")
def test_a_target_slower_than_the_run_is_measured_long_enough() -> None:
    """A target whose answers take longer than a quick run (LiteLLM at c64) is not reported as 0 req/s."""
    from benchmarks.payloads import MODEL, UPSTREAM_KEY
    from benchmarks.upstream import Upstream

    slow = Upstream(peer_bench.free_port(), delay_ms=1500).start()  # each answer takes 1.5 s
    args = argparse.Namespace(duration=1, quick=True, concurrency="2", workers="1", peer_names="haproxy", transport="hybrid")
    bench = peer_bench.PeerBench(args)
    try:
        bench.measure(peer_bench.Target("direct", slow, MODEL, f"Bearer {UPSTREAM_KEY}"), "plain", 2)
    finally:
        slow.stop()
    row = bench.rows[-1]
    assert row["requests"] >= 8 and 1500 <= row["p50_ms"] < 2500, row  # main: 0 requests, 0 req/s
    assert row["duration_s"] == 10 and row["errors"] == 0
