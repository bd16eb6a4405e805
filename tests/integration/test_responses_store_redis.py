"""The Responses store on the shared Redis: conversations, retrieval and deletion across two real
gateway instances of two workers each, the TTL, and a Redis that dies under a running gateway."""

from __future__ import annotations

import time
import uuid

import httpx
import openai
import pytest
import redis

from tests.conftest import FAKE_OPENAI_KEY
from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess
from tests.keys.conftest import own_redis, redis_prefix, redis_server  # noqa: F401  (the real redis-server fixtures)
from tests.redis_server import RedisServer


def gateway_toml(redis_url: str, prefix: str, upstream: str, responses: str = "") -> str:
    # A generous Redis timeout: the machine is shared and loaded; a timeout would count as an outage.
    return f"""
[providers.mock]

[providers.groq]
api_key = "{FAKE_OPENAI_KEY}"
base_url = "{upstream}/v1"
timeout = 20

[limits]
backend = "redis"
redis_url = "{redis_url}"
redis_prefix = "{prefix}"
redis_timeout = 5

[responses]
{responses}
"""


def client(gateway: GatewayProcess) -> openai.OpenAI:
    # No SDK retries: a 503 must be seen as it is, not retried into a pass.
    return openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0, timeout=30)


def sent_to_upstream(fake: FakeServer, marker: str) -> dict:
    """The last chat request the fake OpenAI-compatible upstream got whose text holds ``marker``."""
    matching = [r.json() for r in fake.requests if r.path.endswith("/chat/completions") and marker in r.body.decode()]
    assert matching, f"no upstream request carried {marker!r}"
    return matching[-1]


def texts(body: dict) -> list[str]:
    return [m["content"] if isinstance(m["content"], str) else m["content"][0]["text"] for m in body["messages"]]


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.fixture
def two_instances(start_gateway, redis_server, redis_prefix, openai_fake) -> tuple[GatewayProcess, GatewayProcess]:  # noqa: F811
    toml = gateway_toml(redis_server.url, redis_prefix, openai_fake.url)
    return start_gateway(toml, workers=2), start_gateway(toml, workers=2)


def test_two_turns_hop_between_instances(two_instances, openai_fake) -> None:
    a, b = (client(g) for g in two_instances)
    marker = uuid.uuid4().hex[:8]
    first = a.responses.create(model="groq/gpt-4o", input=f"My name is Ada {marker}.")
    second = b.responses.create(model="groq/gpt-4o", input=f"What is my name {marker}?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    # The other instance sent the whole conversation upstream: the first turn, its answer, then this one.
    assert texts(sent_to_upstream(openai_fake, f"What is my name {marker}?")) == [
        f"My name is Ada {marker}.", f"echo: My name is Ada {marker}.", f"What is my name {marker}?"]
    # A third turn, streamed, back on the first instance, chained from the second.
    with a.responses.stream(model="groq/gpt-4o", input=f"Third {marker}", previous_response_id=second.id) as stream:
        third = stream.get_final_response()
    assert len(texts(sent_to_upstream(openai_fake, f"Third {marker}"))) == 5
    # Answers are retrievable from the other instance, whichever worker answers.
    for _ in range(4):
        assert b.responses.retrieve(first.id).output_text == first.output_text
        assert a.responses.retrieve(third.id).output_text == third.output_text
    items = b.responses.input_items.list(second.id)
    assert [i.content[0].text for i in items.data] == [f"What is my name {marker}?"]


def test_delete_is_seen_by_every_instance(two_instances) -> None:
    a, b = (client(g) for g in two_instances)
    made = a.responses.create(model="mock/mock-1", input="keep me")
    assert b.responses.retrieve(made.id).id == made.id
    deleted = b.responses.delete(made.id)
    assert deleted is None  # the SDK returns nothing; the HTTP answer is checked below
    for gateway in two_instances:
        for _ in range(3):
            gone = httpx.get(f"{gateway.base_url}/responses/{made.id}", headers=gateway.auth, timeout=10)
            assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    again = httpx.delete(f"{two_instances[0].base_url}/responses/{made.id}", headers=two_instances[0].auth, timeout=10)
    assert again.status_code == 404
    with pytest.raises(openai.NotFoundError):
        a.responses.create(model="mock/mock-1", input="x", previous_response_id=made.id)


def test_store_false_leaves_nothing_in_redis(two_instances, redis_server, redis_prefix) -> None:  # noqa: F811
    made = client(two_instances[0]).responses.create(model="mock/mock-1", input="forget me", store=False)
    assert redis.Redis.from_url(redis_server.url).exists(f"{redis_prefix}:resp:{made.id}") == 0
    with pytest.raises(openai.NotFoundError):
        client(two_instances[1]).responses.retrieve(made.id)


def test_ttl_is_honoured(start_gateway, redis_server, redis_prefix, openai_fake) -> None:  # noqa: F811
    gateway = start_gateway(gateway_toml(redis_server.url, redis_prefix, openai_fake.url, "store_ttl_s = 4"), workers=2)
    made = client(gateway).responses.create(model="mock/mock-1", input="short-lived")
    key = f"{redis_prefix}:resp:{made.id}"
    ttl_ms = redis.Redis.from_url(redis_server.url).pttl(key)
    assert 0 < ttl_ms <= 4000, ttl_ms  # one key per response, expiring on its own
    url = f"{gateway.base_url}/responses/{made.id}"
    assert httpx.get(url, headers=gateway.auth, timeout=10).status_code == 200
    assert wait_for(lambda: httpx.get(url, headers=gateway.auth, timeout=10).status_code == 404, timeout=30)


def test_redis_killed_refuses_reads_but_answers(start_gateway, own_redis: RedisServer, redis_prefix, openai_fake) -> None:  # noqa: F811
    gateway = start_gateway(gateway_toml(own_redis.url, redis_prefix, openai_fake.url), workers=2)
    sdk = client(gateway)
    kept = sdk.responses.create(model="mock/mock-1", input="before the outage")
    own_redis.kill()

    for method in ("GET", "DELETE"):
        for _ in range(3):  # whichever worker answers
            answer = httpx.request(method, f"{gateway.base_url}/responses/{kept.id}", headers=gateway.auth, timeout=20)
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"]["code"] == "response_store_unavailable"
            assert answer.headers["retry-after"] == "1"
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.responses.create(model="mock/mock-1", input="x", previous_response_id=kept.id)
    assert caught.value.status_code == 503
    # A new answer still goes out (not stored, with a warning), plain and streamed.
    fresh = sdk.responses.create(model="mock/mock-1", input="during the outage")
    assert fresh.output_text
    with sdk.responses.stream(model="mock/mock-1", input="streamed during the outage") as stream:
        assert stream.get_final_response().output_text
    output = gateway.output()
    assert output.count("not stored: the response store (Redis) is unavailable") >= 2
    assert "Traceback" not in output and FAKE_OPENAI_KEY not in output

    own_redis.start()  # an empty Redis on the same port: the store works again without a restart

    def stored_again() -> bool:
        after = sdk.responses.create(model="mock/mock-1", input="after the outage")
        return httpx.get(f"{gateway.base_url}/responses/{after.id}", headers=gateway.auth, timeout=20).status_code == 200

    assert wait_for(stored_again, timeout=20)
    with pytest.raises(openai.NotFoundError):  # what was stored before the outage died with that Redis
        sdk.responses.retrieve(kept.id)
