"""/metrics of a real `llmg serve --workers 2`: counters summed over both workers exactly, the
exposition accepted by `promtool check metrics`, and a real Prometheus scraping it and answering
a query for the request count. Debian's `prometheus` package is installed when missing."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes.server import free_port
from tests.observe.helpers import GATEWAY_KEY, SCRAPE_KEY, config, samples, value

pytestmark = pytest.mark.e2e

PRICED = "openai/gpt-4o-mini"
SCRAPE = {"Authorization": f"Bearer {SCRAPE_KEY}"}


def _ensure_prometheus() -> tuple[str, str]:
    """(prometheus, promtool) paths, installing Debian's package when they are missing."""
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        install = ["apt-get", "install", "-y", "-q", "prometheus"]
        if subprocess.run(install, capture_output=True, timeout=600).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=600)
            subprocess.run(install, capture_output=True, timeout=600)
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not (prometheus and promtool):
        pytest.fail("Debian's prometheus package could not be installed (apt-get install prometheus)")
    return prometheus, promtool


def _traffic(gateway, client: httpx.Client | None = None) -> int:
    """Plain, streamed and failed chat requests over fresh connections (so both workers get some)."""
    sent = 0
    for i in range(12):
        with httpx.Client(base_url=gateway.url, timeout=30) as fresh:
            body = {"model": "openai/error-500" if i % 6 == 5 else PRICED,
                    "messages": [{"role": "user", "content": "hi"}], "stream": i % 3 == 1}
            r = fresh.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {GATEWAY_KEY}"})
            assert r.status_code in (200, 502, 500), r.text
            sent += 1
    return sent


@pytest.fixture(scope="module")
def gateway(openai_fake):
    from tests.gateway import GatewayProcess

    gw = GatewayProcess(config(openai_fake.url), workers=2).start()
    yield gw
    gw.stop()


def test_counters_are_exact_across_two_workers(gateway) -> None:
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        before = samples(client.get("/metrics", headers=SCRAPE).text)
        sent = _traffic(gateway, client)
        # each worker hands its values over every BATCH_S (0.25 s): wait until the sum is in...
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            found = samples(client.get("/metrics", headers=SCRAPE).text)
            if value(found, "llmg_requests_total", route="v1/chat/completions") - value(
                    before, "llmg_requests_total", route="v1/chat/completions") >= sent:
                break
            time.sleep(0.2)
        # ...then every scrape (answered by either worker) shows exactly the same sums
        for _ in range(4):
            with httpx.Client(base_url=gateway.url, timeout=30) as fresh:
                found = samples(fresh.get("/metrics", headers=SCRAPE).text)
            route = "v1/chat/completions"
            total = value(found, "llmg_requests_total", route=route) - value(before, "llmg_requests_total", route=route)
            assert total == sent
            assert value(found, "llmg_requests_total", route=route, status="200") - value(
                before, "llmg_requests_total", route=route, status="200") == 10
            assert value(found, "llmg_time_to_first_token_seconds_count") - value(
                before, "llmg_time_to_first_token_seconds_count") == 4
            assert value(found, "llmg_tokens_total", kind="prompt", model=PRICED) - value(
                before, "llmg_tokens_total", kind="prompt", model=PRICED) == 50
            assert value(found, "llmg_request_duration_seconds_count", route=route) - value(
                before, "llmg_request_duration_seconds_count", route=route) == sent
            assert value(found, "llmg_in_flight_requests") == 0  # scrapes are not counted
    out = gateway.output()
    assert GATEWAY_KEY not in out and SCRAPE_KEY not in out


def test_promtool_accepts_the_exposition(gateway) -> None:
    _, promtool = _ensure_prometheus()
    text = httpx.get(f"{gateway.url}/metrics", headers=SCRAPE, timeout=30).text
    checked = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


def test_a_real_prometheus_scrapes_the_gateway(gateway) -> None:
    prometheus, _ = _ensure_prometheus()
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        _traffic(gateway, client)
        time.sleep(2)  # both workers have flushed (BATCH_S = 0.25 s)
        sent_before = value(samples(client.get("/metrics", headers=SCRAPE).text), "llmg_requests_total",
                            route="v1/chat/completions")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "key").write_text(SCRAPE_KEY)
        Path(tmp, "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: llmg
    metrics_path: /metrics
    authorization:
      credentials_file: {tmp}/key
    static_configs:
      - targets: ["127.0.0.1:{gateway.port}"]
""")
        proc = subprocess.Popen(
            [prometheus, f"--config.file={tmp}/prometheus.yml", f"--storage.tsdb.path={tmp}/data",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            query = 'sum(llmg_requests_total{route="v1/chat/completions"})'
            deadline = time.monotonic() + 90
            got = None
            while time.monotonic() < deadline:
                try:
                    r = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}, timeout=5)
                    result = r.json()["data"]["result"]
                    if result:
                        got = float(result[0]["value"][1])
                        break
                except (httpx.HTTPError, KeyError, ValueError):
                    pass
                time.sleep(0.5)
            assert got == sent_before, f"prometheus answered {got}, the gateway counted {sent_before}"
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
