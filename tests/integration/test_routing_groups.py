"""Model groups over HTTP: the real gateway process, real fake upstreams (OpenAI wire format).

Which deployment served (x-llmg-deployment), how many attempts (x-llmg-attempts, and the fakes'
own counts), backoff bounds, streams never retried after their first byte, fallbacks, timeouts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.fakes.scripted_upstream import Scripted, decode_sse
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


def client(gateway) -> httpx.Client:
    return httpx.Client(base_url=gateway.url, timeout=30)


def served(resp: httpx.Response) -> tuple[str, str]:
    return resp.headers["x-llmg-deployment"], resp.headers["x-llmg-attempts"]


def test_groups_are_listed_as_models(fakes, start_gateway) -> None:
    (a,) = fakes("a")
    gw = start_gateway(config(f'[groups.fast-chat]\ndeployments = [{deployment(a, "a")}]'))
    with client(gw) as c:
        listed = {m["id"]: m["owned_by"] for m in c.get("/v1/models").json()["data"]}
        assert listed["fast-chat"] == "llmg-group"
        assert "mock/mock-1" in listed or any(k.startswith("mock/") for k in listed)
        one = c.get("/v1/models/fast-chat")
        assert one.status_code == 200 and one.json()["owned_by"] == "llmg-group"
        # A plain provider/model request is untouched by routing: no routing headers.
        plain = chat(c, "mock/mock-1")
        assert plain.status_code == 200 and "x-llmg-deployment" not in plain.headers


def test_retry_goes_to_another_deployment(fakes, start_gateway) -> None:
    a, b = fakes("a", "b")
    a.default = "500"
    gw = start_gateway(config(f"""[groups.g]
strategy = "round-robin"
deployments = [{deployment(a, "a")}, {deployment(b, "b")}]"""))
    with client(gw) as c:
        resp = chat(c, "g")
        assert resp.status_code == 200, resp.text
        assert served(resp) == ("b", "2")
        assert resp.json()["choices"][0]["message"]["content"] == "served by b"
        assert (a.count, b.count) == (1, 1)
        # Streamed: the same, and the routing headers come before the first byte.
        resp = chat(c, "g", stream=True)
        assert resp.status_code == 200
        assert resp.headers["x-llmg-deployment"] == "b"
        assert decode_sse(resp.text)[-1] == "[DONE]"
        # Embeddings go through the group too.
        emb = c.post("/v1/embeddings", json={"model": "g", "input": "x"})
        assert emb.status_code == 200 and emb.headers["x-llmg-deployment"] == "b"


def test_other_4xx_is_not_retried(fakes, start_gateway) -> None:
    a, b = fakes("a", "b")
    a.default = "400"
    gw = start_gateway(config(f"""[groups.g]
strategy = "round-robin"
deployments = [{deployment(a, "a")}, {deployment(b, "b")}]"""))
    with client(gw) as c:
        resp = chat(c, "g")
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"
    assert resp.headers["x-llmg-attempts"] == "1"
    assert (a.count, b.count) == (1, 0)


def test_only_configured_classes_are_retried(fakes, start_gateway) -> None:
    a, b = fakes("a", "b")
    a.default = "500"
    gw = start_gateway(config(f"""[groups.g]
strategy = "round-robin"
deployments = [{deployment(a, "a")}, {deployment(b, "b")}]""", router='retry_on = ["connect", "429"]'))
    with client(gw) as c:
        resp = chat(c, "g")
    assert resp.status_code == 502 and resp.json()["error"]["type"] == "provider_error"
    assert (a.count, b.count) == (1, 0)


def test_backoff_honours_retry_after_and_is_bounded(fakes, start_gateway) -> None:
    (a,) = fakes("a")
    gw = start_gateway(config(f"""[groups.g]
max_attempts = 4
deployments = [{deployment(a, "a")}]""",
        router="backoff_base_ms = 50\nbackoff_max_ms = 80\ncooldown = { failures = 10, window_s = 30, cooldown_s = 30 }"))
    with client(gw) as c:
        # One deployment: retries go back to it, after a full-jitter backoff capped at 80 ms.
        a.script[:] = ["500", "503", "500"]
        resp = chat(c, "g")
        assert resp.status_code == 200 and served(resp) == ("a", "4")
        gaps = [t1 - t0 for t0, t1 in zip(a.arrivals, a.arrivals[1:])]
        assert len(gaps) == 3 and all(g < 0.8 for g in gaps), gaps  # 80 ms cap, generous for a busy box
        # Retry-After: 1 -> the retry waits at least a second, however small the backoff is.
        a.reset()
        a.script[:] = ["429:1"]
        resp = chat(c, "g")
        assert resp.status_code == 200 and served(resp) == ("a", "2")
        assert a.arrivals[1] - a.arrivals[0] >= 0.95


def test_retry_after_beyond_the_deadline_is_not_waited_for(fakes, start_gateway) -> None:
    (a,) = fakes("a")
    a.script[:] = ["429:30"]
    gw = start_gateway(config(f'[groups.g]\ndeployments = [{deployment(a, "a")}]', router="deadline_s = 3"))
    with client(gw) as c:
        started = time.monotonic()
        resp = chat(c, "g")
        elapsed = time.monotonic() - started
    assert resp.status_code == 503, resp.text
    error = resp.json()["error"]
    assert error["type"] == "provider_error" and error["code"] == "group_unavailable"
    assert error["message"].startswith("g: ")
    assert a.count == 1 and elapsed < 2.5


def test_stream_is_never_retried_after_its_first_byte(fakes, start_gateway) -> None:
    a, b = fakes("a", "b")
    a.default = "drop"
    gw = start_gateway(config(f"""[groups.g]
strategy = "round-robin"
deployments = [{deployment(a, "a")}, {deployment(b, "b")}]"""))
    with client(gw) as c:
        resp = chat(c, "g", stream=True)
    assert resp.status_code == 200 and served(resp) == ("a", "1")
    events = decode_sse(resp.text)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"  # the first chunk reached us
    assert "error" in events[-2] and events[-1] == "[DONE]"
    assert (a.count, b.count) == (1, 0)


def test_stream_stalled_mid_way_ends_with_an_error_not_a_retry(fakes, start_gateway) -> None:
    a, b = fakes("a", "b")
    a.default = "stall"
    gw = start_gateway(config(f"""[groups.g]
strategy = "round-robin"
deployments = [{deployment(a, "a", "idle_timeout_s = 0.5")}, {deployment(b, "b")}]"""))
    with client(gw) as c:
        started = time.monotonic()
        resp = chat(c, "g", stream=True)
        elapsed = time.monotonic() - started
    events = decode_sse(resp.text)
    assert events[-2]["error"]["type"] == "timeout_error" and "stalled" in events[-2]["error"]["message"]
    assert (a.count, b.count) == (1, 0)
    assert 0.4 < elapsed < 10


def test_hang_before_first_byte_is_retried_elsewhere(fakes, start_gateway) -> None:
    a, b = fakes("a", "b")
    a.default = "hang"
    gw = start_gateway(config(f"""[groups.g]
strategy = "round-robin"
deployments = [{deployment(a, "a", "ttft_timeout_s = 0.5, timeout_s = 0.5")}, {deployment(b, "b")}]"""))
    with client(gw) as c:
        for stream in (True, False):
            started = time.monotonic()
            resp = chat(c, "g", stream=stream)
            assert resp.status_code == 200, resp.text
            assert served(resp) == ("b", "2")
            assert time.monotonic() - started < 10
            assert decode_sse(resp.text)[-1] == "[DONE]" if stream else resp.json()["choices"]
    assert a.count == 2  # round-robin: each request starts at a again (a, then b, cursor back to a)


def test_slow_answer_past_timeout_s_is_retried(fakes, start_gateway) -> None:
    a, b = fakes("a", "b")
    a.default = "slow:5"
    gw = start_gateway(config(f"""[groups.g]
strategy = "round-robin"
deployments = [{deployment(a, "a", "timeout_s = 0.4")}, {deployment(b, "b")}]"""))
    with client(gw) as c:
        resp = chat(c, "g")
    assert resp.status_code == 200 and served(resp) == ("b", "2")


def test_fallbacks_in_order_after_the_group_is_exhausted(fakes, start_gateway) -> None:
    a, b = fakes("a", "b")
    a.default = b.default = "500"
    gw = start_gateway(config(f"""[groups.first]
fallbacks = ["second", "mock/fallback-model"]
deployments = [{deployment(a, "a")}]

[groups.second]
deployments = [{deployment(b, "b")}]""", router="max_attempts = 2"))
    with client(gw) as c:
        resp = chat(c, "first")
        assert resp.status_code == 200, resp.text
        # 2 attempts on a, 2 on b (each group's budget), then the provider/model fallback.
        assert served(resp) == ("mock/fallback-model", "5")
        assert (a.count, b.count) == (2, 2)
        assert max(a.arrivals) < min(b.arrivals)
        # "second" alone has no fallbacks: exhausted -> 503 naming the group.
        resp = chat(c, "second")
        assert resp.status_code == 503
        assert resp.json()["error"]["message"].startswith("second: no deployment could answer")
        assert "fake upstream error 500" in resp.json()["error"]["message"]


@pytest.mark.parametrize("step", ["context", "policy"])
def test_context_window_and_content_policy_go_to_the_fallbacks(fakes, start_gateway, step: str) -> None:
    a, b = fakes("a", "b")
    a.default = step
    gw = start_gateway(config(f"""[groups.g]
fallbacks = ["big"]
deployments = [{deployment(a, "a")}]

[groups.big]
deployments = [{deployment(b, "b")}]

[groups.nofallback]
fallbacks = []
deployments = [{deployment(a, "a2")}]"""))
    with client(gw) as c:
        resp = chat(c, "g")
        assert resp.status_code == 200 and served(resp) == ("b", "2")
        assert a.count == 1  # not retried on the same model
        # No fallback left: the client gets the upstream's 400, not a 503.
        resp = chat(c, "nofallback")
        assert resp.status_code == 400


def test_fallback_on_can_be_turned_off(fakes, start_gateway) -> None:
    a, b = fakes("a", "b")
    a.default = "context"
    gw = start_gateway(config(f"""[groups.g]
fallbacks = ["big"]
deployments = [{deployment(a, "a")}]

[groups.big]
deployments = [{deployment(b, "b")}]""", router="fallback_on = []"))
    with client(gw) as c:
        resp = chat(c, "g")
    assert resp.status_code == 400 and b.count == 0


def test_own_api_key_per_deployment(fakes, start_gateway) -> None:
    (a,) = fakes("a")
    a.api_key = "sk-second-key"
    gw = start_gateway(config(f"""[groups.g]
deployments = [{deployment(a, "a", 'api_key = "${SECOND_KEY}"')}]"""), env={"SECOND_KEY": "sk-second-key"})
    with client(gw) as c:
        resp = chat(c, "g")
        assert resp.status_code == 200 and served(resp) == ("a", "1")
    assert "sk-second-key" not in gw.output()


def test_no_deployment_available_is_503_naming_the_group(fakes, start_gateway) -> None:
    (a,) = fakes("a")
    a.default = "500"
    gw = start_gateway(config(f'[groups.g]\nmax_attempts = 1\ndeployments = [{deployment(a, "a")}]',
                              router="cooldown = { failures = 1, window_s = 30, cooldown_s = 30 }"))
    with client(gw) as c:
        assert chat(c, "g").status_code == 503  # the failure opens the breaker
        resp = chat(c, "g")
    assert resp.status_code == 503
    assert resp.json()["error"]["message"] == "g: no deployment is available (all are cooling down or at capacity)"
    assert resp.headers["x-llmg-attempts"] == "0"
    assert a.count == 1


def test_a_dead_deployment_is_a_connect_failure(start_gateway, fakes) -> None:
    (b,) = fakes("b")
    gw = start_gateway(config(f"""[groups.g]
strategy = "round-robin"
deployments = [{deployment(refused_url(), "dead")}, {deployment(b, "b")}]"""))
    with client(gw) as c:
        resp = chat(c, "g")
    assert resp.status_code == 200 and served(resp) == ("b", "2")


def test_max_in_flight_and_an_abandoned_stream_releases_its_deployment(fakes, start_gateway) -> None:
    a, b = fakes("a", "b")
    a.script[:] = ["stall"]
    gw = start_gateway(config(f"""[groups.g]
strategy = "round-robin"
deployments = [{deployment(a, "a", "max_in_flight = 1")}, {deployment(b, "b")}]"""))
    body = {"model": "g", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with client(gw) as c:
        with c.stream("POST", "/v1/chat/completions", json=body) as resp:
            assert resp.headers["x-llmg-deployment"] == "a"
            raw = resp.iter_raw()  # kept referenced: a dropped iterator closes the response
            next(raw)  # the first chunk arrived; a is now stalled and full
            # a holds its one slot: round-robin's next turns skip it.
            assert [chat(c, "g").headers["x-llmg-deployment"] for _ in range(3)] == ["b"] * 3
        # The client went away: the gateway lets go of a.
        deadline = time.monotonic() + 10
        labels: list[str] = []
        while "a" not in labels and time.monotonic() < deadline:
            labels.append(chat(c, "g").headers["x-llmg-deployment"])
            time.sleep(0.05)
    assert "a" in labels


def test_the_deadline_ends_every_attempt_and_stops_the_retries(fakes, start_gateway) -> None:
    a, b = fakes("a", "b")
    a.default = "hang"
    gw = start_gateway(config(f"""[groups.g]
strategy = "round-robin"
fallbacks = ["mock/fallback"]
deployments = [{deployment(a, "a")}, {deployment(b, "b")}]""", router="deadline_s = 1"))
    with client(gw) as c:
        started = time.monotonic()
        resp = chat(c, "g")
        elapsed = time.monotonic() - started
    assert resp.status_code == 503 and resp.headers["x-llmg-attempts"] == "1"
    assert "timed out" in resp.json()["error"]["message"]
    assert (a.count, b.count) == (1, 0)
    assert 0.9 < elapsed < 8
