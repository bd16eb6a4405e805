"""/metrics in-process: counters exact for plain, streamed and failed requests; usage, cost, TTFT,
the scrape key; the json access line (one per request). Upstream is the real-wire OpenAI fake."""

from __future__ import annotations

import logging

import pytest

from llmg.app import create_app
from llmg.config import parse
from tests.observe.helpers import GATEWAY_KEY, SCRAPE_KEY, access_lines, config, samples, value

AUTH = {"Authorization": f"Bearer {GATEWAY_KEY}", "content-type": "application/json"}
PRICED = "openai/gpt-4o-mini"  # 0.15 / 0.60 USD per million in llmg/pricing.toml


def chat(model: str, stream: bool = False, **extra) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "hello there"}], "stream": stream, **extra}


@pytest.fixture
def app(openai_fake):
    return create_app(parse(config(openai_fake.url, '[server]\naccess_log = true\n[logging]\nformat = "json"'), "t", {}))


def scrape(app) -> dict:
    _, response = app.test_client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_KEY}"})
    assert response.status == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def test_counters_match_the_requests_sent(app, caplog, capfd) -> None:
    caplog.set_level(logging.INFO, logger="llmg.access")
    for _ in range(3):
        _, r = app.test_client.post("/v1/chat/completions", json=chat(PRICED), headers=AUTH)
        assert r.status == 200
    for _ in range(2):
        _, r = app.test_client.post("/v1/chat/completions", json=chat(PRICED, stream=True), headers=AUTH)
        assert r.status == 200 and "data: [DONE]" in r.text
        assert '"usage"' not in r.text  # the usage chunk we asked for is not passed to a client that did not
    _, r = app.test_client.post("/v1/chat/completions", json=chat("openai/error-500"), headers=AUTH)
    assert r.status >= 500
    _, r = app.test_client.post("/v1/chat/completions", json=chat(PRICED), headers={"content-type": "application/json"})
    assert r.status == 401

    found = scrape(app)
    route = "v1/chat/completions"
    ok = dict(route=route, provider="openai", model=PRICED, status="200")
    assert value(found, "llmg_requests_total", **ok) == 5
    assert value(found, "llmg_requests_total", route=route, provider="openai", model="openai/error-500") == 1
    assert value(found, "llmg_requests_total", status="401") == 1
    assert value(found, "llmg_requests_total", route=route) == 7
    assert value(found, "llmg_request_duration_seconds_count", route=route, model=PRICED) == 5
    assert value(found, "llmg_upstream_duration_seconds_count", route=route, model=PRICED) == 5
    # the gateway's own share is visible: whole request >= its upstream part
    assert value(found, "llmg_request_duration_seconds_sum", model=PRICED) >= value(
        found, "llmg_upstream_duration_seconds_sum", model=PRICED)
    assert value(found, "llmg_time_to_first_token_seconds_count", model=PRICED) == 2
    # the fake reports 5 prompt and 2 completion tokens, plain and streamed
    assert value(found, "llmg_tokens_total", model=PRICED, kind="prompt") == 25
    assert value(found, "llmg_tokens_total", model=PRICED, kind="completion") == 10
    assert value(found, "llmg_cost_usd_total", model=PRICED) == pytest.approx(5 * (5 * 0.15 + 2 * 0.60) / 1e6)
    assert value(found, "llmg_upstream_errors_total", provider="openai") == 1
    assert value(found, "llmg_in_flight_requests") == 0  # scrapes are not counted

    lines = [line for line in access_lines(capfd) if line["path"] != "/metrics"]
    assert len(lines) == 7  # exactly one per request, streams included (written when they end)
    streamed = [line for line in lines if line["ttft_ms"] is not None]
    assert len(streamed) == 2
    assert all(line["prompt_tokens"] == 5 and line["completion_tokens"] == 2 for line in streamed)
    plain = lines[0]
    assert plain["status"] == 200 and plain["usage_source"] == "provider" and plain["cost_usd"] > 0
    assert plain["model"] == PRICED and plain["provider"] == "openai" and plain["upstream_ms"] > 0
    assert {"time", "request_id", "key", "route", "deployment", "latency_ms", "error_type"} <= set(plain)
    assert "request_body" not in plain  # no bodies unless log_bodies = true
    failed = [line for line in lines if line["status"] >= 500]
    assert len(failed) == 1 and failed[0]["error_type"]


def test_unknown_price_is_unknown_not_zero(app, caplog, capfd) -> None:
    caplog.set_level(logging.INFO, logger="llmg.access")
    _, r = app.test_client.post("/v1/chat/completions", json=chat("openai/some-unpriced-model"), headers=AUTH)
    assert r.status == 200
    found = scrape(app)
    assert value(found, "llmg_cost_usd_total", model="openai/some-unpriced-model") == 0
    assert value(found, "llmg_unpriced_requests_total", model="openai/some-unpriced-model") == 1
    line = access_lines(capfd)[0]
    assert line["cost_usd"] is None and line["prompt_tokens"] == 5


def test_pricing_override_from_the_config(openai_fake) -> None:
    app = create_app(parse(config(openai_fake.url, '[pricing."openai/gpt-4o-mini"]\ninput = 1000000\noutput = 0'), "t", {}))
    _, r = app.test_client.post("/v1/chat/completions", json=chat(PRICED), headers=AUTH)
    assert r.status == 200
    assert value(scrape(app), "llmg_cost_usd_total", model=PRICED) == pytest.approx(5.0)  # 5 prompt tokens at 1 USD each


def test_metrics_take_their_own_key_only(app) -> None:
    assert app.test_client.get("/metrics")[1].status == 401
    assert app.test_client.get("/metrics", headers={"Authorization": f"Bearer {GATEWAY_KEY}"})[1].status == 401
    r = app.test_client.get("/metrics", headers={"Authorization": "Bearer wrong"})[1]
    assert r.status == 401 and r.json["error"]["type"] == "authentication_error"


def test_without_a_scrape_key_metrics_take_a_gateway_key(openai_fake) -> None:
    app = create_app(parse(config(openai_fake.url).replace(f'key = "{SCRAPE_KEY}"', ""), "t", {}))
    assert app.test_client.get("/metrics")[1].status == 401
    assert app.test_client.get("/metrics", headers={"Authorization": f"Bearer {GATEWAY_KEY}"})[1].status == 200


def test_metrics_off_by_default(openai_fake) -> None:
    app = create_app(parse(config(openai_fake.url).replace("enabled = true", "enabled = false"), "t", {}))
    assert app.test_client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_KEY}"})[1].status == 404
    assert not hasattr(app.ctx, "observer")  # nothing on the hot path


def test_the_gateways_own_rate_limit_is_counted_per_key(openai_fake) -> None:
    extra = '[keys.team-a]\nkey = "team-a-secret-key"\nrpm = 1'
    app = create_app(parse(config(openai_fake.url, extra), "t", {}))
    headers = {"Authorization": "Bearer team-a-secret-key", "content-type": "application/json"}
    statuses = [app.test_client.post("/v1/chat/completions", json=chat(PRICED), headers=headers)[1].status for _ in range(3)]
    assert statuses == [200, 429, 429]
    found = scrape(app)
    assert value(found, "llmg_rate_limited_total", key="team-a") == 2
    assert value(found, "llmg_requests_total", key="team-a", status="200") == 1
    assert value(found, "llmg_upstream_errors_total") == 0  # our own refusal is not the provider's


def test_log_bodies_puts_the_bodies_in_the_line(openai_fake, caplog, capfd) -> None:
    caplog.set_level(logging.INFO, logger="llmg.access")
    app = create_app(parse(config(openai_fake.url, '[server]\naccess_log = true\n[logging]\nformat = "json"\nlog_bodies = true'), "t", {}))
    app.test_client.post("/v1/chat/completions", json=chat(PRICED), headers=AUTH)
    line = access_lines(capfd)[0]
    assert "hello there" in line["request_body"] and "echo: hello there" in line["response_body"]
