"""Strategies, the circuit breaker and the issue's Done-when case, over HTTP against the real gateway.

Distribution bounds are chosen so that the wrong strategy cannot meet them by chance: each says
how far the expected count of a wrong strategy lies outside it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.fakes.scripted_upstream import KEY, Scripted
from tests.integration.routing_helpers import chat, config, deployment, refused_url


@pytest.fixture
def fakes() -> Iterator[Callable[..., list[Scripted]]]:
    started: list[Scripted] = []

    def make(*names: str) -> list[Scripted]:
        new = [Scripted(name).start() for name in names]
        started.extend(new)
        return new

    yield make
    for fake in started:
        fake.stop()


def served_by(c: httpx.Client, model: str, n: int) -> list[str]:
    labels = []
    for _ in range(n):
        resp = chat(c, model)
        assert resp.status_code == 200, resp.text
        labels.append(resp.headers["x-llmg-deployment"])
    return labels


def test_weighted_follows_the_weights(fakes, start_gateway) -> None:
    a, b = fakes("a", "b")
    gw = start_gateway(config(f"""[groups.g]
strategy = "weighted"
deployments = [{deployment(a, "a", "weight = 3")}, {deployment(b, "b")}]"""))
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        counts = Counter(served_by(c, "g", 400))
    # Expected a = 300 (sd 8.7). Equal weights would give 200, round-robin 200: both far outside.
    assert 255 <= counts["a"] <= 345, counts
    assert counts["a"] + counts["b"] == 400


def test_round_robin_takes_turns(fakes, start_gateway) -> None:
    a, b, c3 = fakes("a", "b", "c")
    gw = start_gateway(config(f"""[groups.g]
strategy = "round-robin"
deployments = [{deployment(a, "a", "weight = 10")}, {deployment(b, "b")}, {deployment(c3, "c")}]"""))
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        labels = served_by(c, "g", 30)
    assert labels == ["a", "b", "c"] * 10  # weights do not matter to round-robin


def test_least_busy_balances_requests_in_flight(fakes, start_gateway) -> None:
    a, b = fakes("a", "b")
    a.default = b.default = "hold"
    gw = start_gateway(config(f"""[groups.g]
strategy = "least-busy"
deployments = [{deployment(a, "a", "weight = 9")}, {deployment(b, "b")}]"""))
    results: list[httpx.Response] = []

    def one() -> None:
        with httpx.Client(base_url=gw.url, timeout=30) as c:
            results.append(chat(c, "g"))

    threads = []
    try:
        for i in range(20):
            thread = threading.Thread(target=one)
            thread.start()
            threads.append(thread)
            deadline = time.monotonic() + 10
            while a.count + b.count < i + 1 and time.monotonic() < deadline:
                time.sleep(0.005)
            if i % 2 == 1:
                # Every pair lands one on each: random choice (even ignoring the 9:1 weight) keeps
                # this up for 10 pairs with probability 1/1024.
                assert (a.count, b.count) == ((i + 1) // 2, (i + 1) // 2)
    finally:
        a.release()
        b.release()
        for thread in threads:
            thread.join(30)
    assert len(results) == 20 and all(r.status_code == 200 for r in results)


def test_latency_prefers_the_fast_one_and_comes_back_to_a_recovered_one(fakes, start_gateway) -> None:
    a, b = fakes("a", "b")
    a.default = "slow:0.15"
    gw = start_gateway(config(f"""[groups.g]
strategy = "latency"
deployments = [{deployment(a, "a")}, {deployment(b, "b")}]""", router="latency_exploration = 0.2"))
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        first = Counter(served_by(c, "g", 100))
        # Expected b ~ 90 (exploration sends ~10 % to a). Any latency-blind strategy gives ~50.
        assert first["b"] >= 75, first
        assert first["a"] >= 1  # never measured -> tried; explored afterwards
        a.default, b.default = "ok", "slow:0.15"
        later = served_by(c, "g", 150)
    # After a's next exploration sample its average beats b's: the last 50 go mostly to a.
    tail = Counter(later[-50:])
    assert tail["a"] >= 35, (tail, Counter(later))


def test_breaker_opens_half_opens_with_one_probe_and_closes(fakes, start_gateway) -> None:
    a, b = fakes("a", "b")
    a.default = "500"
    gw = start_gateway(config(f"""[groups.g]
strategy = "round-robin"
deployments = [{deployment(a, "a")}, {deployment(b, "b")}]""",
        router="cooldown = { failures = 2, window_s = 30, cooldown_s = 1.5 }"))
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        served_by(c, "g", 2)  # each request: a fails, b serves -> 2 failures: open
        assert a.count == 2
        labels = served_by(c, "g", 6)
        assert labels == ["b"] * 6 and a.count == 2  # open: a is skipped, no attempt reaches it
        time.sleep(1.7)
        # Half-open: a probe fails -> open again at once.
        assert served_by(c, "g", 3) == ["b"] * 3
        assert a.count == 3
        time.sleep(1.7)
        # Half-open with a slow-but-healthy a: of 6 concurrent requests exactly one probes it.
        # The probe takes 3 s, so all 6 requests arrive while it is in flight even on a loaded
        # machine (with 0.5 s a thread started late could find the breaker closed already).
        a.default = "slow:3"
        results: list[httpx.Response] = []

        def one() -> None:
            with httpx.Client(base_url=gw.url, timeout=30) as own:
                results.append(chat(own, "g"))

        threads = [threading.Thread(target=one) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert a.count == 4
        assert sorted(r.headers["x-llmg-deployment"] for r in results) == ["a"] + ["b"] * 5
        # The probe succeeded: closed, round-robin includes a again.
        a.default = "ok"
        labels = served_by(c, "g", 4)
        assert labels.count("a") == 2 and a.count == 6


def test_done_when_dead_rate_limited_and_healthy_via_the_openai_sdk(fakes, start_gateway) -> None:
    """Issue 12's Done-when: every request answers, streamed or not, and once the breakers have
    opened x-llmg-deployment always names the healthy deployment."""
    openai = pytest.importorskip("openai")
    limited, healthy = fakes("limited", "healthy")
    limited.default = "429:1"
    gw = start_gateway(config(f"""[groups.resilient]
deployments = [{deployment(refused_url(), "dead")}, {deployment(limited, "limited")}, {deployment(healthy, "healthy")}]"""))
    sdk = openai.OpenAI(base_url=gw.base_url, api_key="anything", max_retries=0, timeout=30)
    seen: list[tuple[str, str]] = []
    for i in range(30):
        if i % 2:
            raw = sdk.chat.completions.with_raw_response.create(
                model="resilient", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            text = "".join(chunk.choices[0].delta.content or "" for chunk in raw.parse() if chunk.choices)
        else:
            raw = sdk.chat.completions.with_raw_response.create(
                model="resilient", messages=[{"role": "user", "content": "hi"}]
            )
            text = raw.parse().choices[0].message.content
        assert text.strip() == "served by healthy"
        seen.append((raw.headers["x-llmg-deployment"], raw.headers["x-llmg-attempts"]))
    assert all(label == "healthy" for label, _ in seen)
    # Default breaker: 3 failures each. The rate-limited one asks for 1 s and then fails again;
    # once both breakers are open, every request is a single attempt.
    assert limited.count <= 3 + 30 // 10
    assert all(attempts == "1" for _, attempts in seen[-10:]), seen
    assert KEY not in gw.output()
