"""Usage and cost of streams in the other inbound formats, over HTTP, against real-wire fakes:
Anthropic's /v1/messages native stream (input tokens come in message_start, output tokens in
message_delta), the Responses API's stream (usage only in response.completed), and a routing
group's stream (priced by the deployment that served it, whatever its x-llmg-deployment name)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from llmg.app import create_app
from llmg.config import parse
from tests.fakes import anthropic_upstream
from tests.fakes.server import FakeServer
from tests.observe.helpers import GATEWAY_KEY, SCRAPE_KEY, access_lines, config, samples, value

ANTHROPIC_KEY = "sk-ant-fake-observe-0123"
AUTH = {"Authorization": f"Bearer {GATEWAY_KEY}", "content-type": "application/json"}
SONNET = (3.00, 15.00)  # llmg/pricing.toml, anthropic/claude-sonnet-4-5, USD per million
MINI = (0.15, 0.60)  # openai/gpt-4o-mini


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[FakeServer]:
    server = anthropic_upstream.start(ANTHROPIC_KEY)
    yield server
    server.stop()


@pytest.fixture
def app(openai_fake, anthropic_fake, caplog):
    caplog.set_level(logging.INFO, logger="llmg.access")  # what [logging] level = "info" sets in `llmg serve`
    extra = f"""
[providers.anthropic]
api_key = "{ANTHROPIC_KEY}"
base_url = "{anthropic_fake.url}/v1"
timeout = 5

[groups.team-chat]
deployments = [{{ model = "openai/gpt-4o-mini", name = "primary" }}]

[server]
access_log = true

[logging]
format = "json"
"""
    return create_app(parse(config(openai_fake.url, extra), "t", {}))


def scrape(app) -> dict:
    _, response = app.test_client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_KEY}"})
    assert response.status == 200, response.text
    return samples(response.text)


def one_line(capfd, path: str) -> dict:
    lines = [line for line in access_lines(capfd) if line["path"] == path]
    assert len(lines) == 1, lines
    return lines[0]


def test_anthropic_native_stream_records_input_and_output(app, capfd) -> None:
    body = {"model": "anthropic/claude-sonnet-4-5", "max_tokens": 50, "stream": True,
            "messages": [{"role": "user", "content": "hello there"}]}
    _, r = app.test_client.post("/v1/messages", json=body, headers=AUTH)
    assert r.status == 200 and "event: message_stop" in r.text
    assert '"input_tokens":25' in r.text.replace(" ", "")  # the fake's message_start: what we must count
    line = one_line(capfd, "/v1/messages")
    assert line["usage_source"] == "provider"
    assert (line["prompt_tokens"], line["completion_tokens"]) == (25, 12)
    assert line["cost_usd"] == pytest.approx((25 * SONNET[0] + 12 * SONNET[1]) / 1e6)
    found = scrape(app)
    assert value(found, "llmg_tokens_total", model="anthropic/claude-sonnet-4-5", kind="prompt") == 25
    assert value(found, "llmg_tokens_total", model="anthropic/claude-sonnet-4-5", kind="completion") == 12


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "mock/mock-1"])  # native, translated
def test_responses_stream_records_usage_from_response_completed(app, capfd, model) -> None:
    body = {"model": model, "input": "hello there", "stream": True}
    _, r = app.test_client.post("/v1/responses", json=body, headers=AUTH)
    assert r.status == 200 and "event: response.completed" in r.text
    line = one_line(capfd, "/v1/responses")
    assert line["usage_source"] == "provider"
    assert line["prompt_tokens"] > 0 and line["completion_tokens"] > 0
    found = scrape(app)
    assert value(found, "llmg_tokens_total", model=model, kind="prompt") == line["prompt_tokens"]
    assert value(found, "llmg_tokens_total", model=model, kind="completion") == line["completion_tokens"]
    if model == "openai/gpt-4o-mini":
        cost = (line["prompt_tokens"] * MINI[0] + line["completion_tokens"] * MINI[1]) / 1e6
        assert line["cost_usd"] == pytest.approx(cost)
        assert value(found, "llmg_cost_usd_total", model=model) == pytest.approx(cost)


@pytest.mark.parametrize("stream", [False, True])
def test_routing_group_is_priced_by_the_deployment_that_served(app, capfd, stream) -> None:
    body = {"model": "team-chat", "messages": [{"role": "user", "content": "hello there"}], "stream": stream}
    _, r = app.test_client.post("/v1/chat/completions", json=body, headers=AUTH)
    assert r.status == 200 and r.headers["x-llmg-deployment"] == "primary"  # a name, not the model
    line = one_line(capfd, "/v1/chat/completions")
    assert line["deployment"] == "primary" and line["model"] == "team-chat"
    assert (line["prompt_tokens"], line["completion_tokens"]) == (5, 2)  # the OpenAI fake's usage
    assert line["cost_usd"] == pytest.approx((5 * MINI[0] + 2 * MINI[1]) / 1e6)
    found = scrape(app)
    assert value(found, "llmg_cost_usd_total", model="team-chat") == pytest.approx((5 * MINI[0] + 2 * MINI[1]) / 1e6)
    assert value(found, "llmg_unpriced_requests_total", model="team-chat") == 0
