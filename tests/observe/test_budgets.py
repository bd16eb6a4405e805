"""Budgets per named key: spend from priced answers, 429 insufficient_quota once spent, shown by
GET /v1/key; on the memory backend and on a real Redis shared by two gateways."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmg.app import create_app
from llmg.config import parse
from tests.conftest import FAKE_OPENAI_KEY
from tests.redis_server import RedisServer

COST = (5 * 0.15 + 2 * 0.60) / 1e6  # one gpt-4o-mini answer of the fake: 5 prompt, 2 completion tokens
BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
HEADERS = {"Authorization": "Bearer team-budget-key", "content-type": "application/json"}


def gateway(fake_url: str, limits: str = "") -> object:
    return create_app(parse(f"""
[providers.openai]
api_key = "{FAKE_OPENAI_KEY}"
base_url = "{fake_url}/v1"
[keys.team]
key = "team-budget-key"
budget_usd = {COST * 2.5}
budget_period = "day"
[keys.free]
key = "free-key"
{limits}
""", "t", {}))


def post(app, headers=HEADERS, stream: bool = False) -> int:
    return app.test_client.post("/v1/chat/completions", json={**BODY, "stream": stream}, headers=headers)[1]


def test_over_budget_is_429_insufficient_quota(openai_fake) -> None:
    app = gateway(openai_fake.url)
    assert post(app).status == 200
    assert post(app, stream=True).status == 200  # streamed answers are charged too (usage at their end)
    assert post(app).status == 200  # 2 x COST spent < 2.5 x COST: still served, and it crosses the budget
    refused = post(app)
    assert refused.status == 429
    assert refused.json["error"]["type"] == "insufficient_quota" and refused.json["error"]["code"] == "insufficient_quota"
    assert "team" in refused.json["error"]["message"] and "team-budget-key" not in refused.text
    # another key is not affected
    assert post(app, {"Authorization": "Bearer free-key", "content-type": "application/json"}).status == 200
    _, info = app.test_client.get("/v1/key", headers=HEADERS)
    budget = info.json["budget"]
    assert budget["budget_usd"] == pytest.approx(COST * 2.5) and budget["period"] == "day"
    assert budget["spent_usd"] == pytest.approx(COST * 3)
    _, free = app.test_client.get("/v1/key", headers={"Authorization": "Bearer free-key"})
    assert free.json["budget"] is None


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.cleanup()


def test_redis_spend_is_shared_by_two_gateways(openai_fake, redis) -> None:
    limits = f'[limits]\nbackend = "redis"\nredis_url = "{redis.url}"\nredis_prefix = "budget-test"'
    first, second = gateway(openai_fake.url, limits), gateway(openai_fake.url, limits)
    assert post(first).status == 200
    assert post(second).status == 200
    assert post(first).status == 200
    assert post(second).status == 429  # the spend of both counts against the one budget
    _, info = first.test_client.get("/v1/key", headers=HEADERS)
    assert info.json["budget"]["spent_usd"] == pytest.approx(COST * 3)
