"""Limits shared through a real Redis: several workers and instances, slow requests, Redis failures."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import httpx
import pytest

from llmg.app import create_app
from llmg.config import parse
from tests.conftest import FAKE_OPENAI_KEY
from tests.redis_server import RedisServer

CHAT = {"model": "mock/mock-1", "messages": [{"role": "user", "content": "Hi"}]}


def gateway_toml(redis_url: str, prefix: str, keys: str, limits: str = "", upstream: str | None = None) -> str:
    # A generous Redis timeout: the machine is shared and loaded; a timeout would count as an outage.
    timeout = "redis_timeout = 5\n"
    openai = f'[providers.openai]\napi_key = "{FAKE_OPENAI_KEY}"\nbase_url = "{upstream}/v1"\ntimeout = 20\n' if upstream else ""
    return (f"[providers.mock]\n{openai}\n[limits]\nbackend = \"redis\"\nredis_url = \"{redis_url}\"\n"
            f"redis_prefix = \"{prefix}\"\n{timeout}{limits}\n{keys}")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _post_all(urls: list[str], token: str, body: dict, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(*(
            client.post(f"{urls[i % len(urls)]}/v1/chat/completions", json=body, headers=auth(token))
            for i in range(count)
        ))


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_rpm_holds_exactly_across_two_instances_of_two_workers(start_gateway, redis_server, redis_prefix) -> None:
    toml = gateway_toml(redis_server.url, redis_prefix, '[keys.team-a]\nkey = "sk-team-a"\nrpm = 30\n')
    gateways = [start_gateway(toml, workers=2), start_gateway(toml, workers=2)]
    urls = [g.url for g in gateways]
    responses = asyncio.run(_post_all(urls, "sk-team-a", CHAT, 60))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 30, (statuses, [g.output() for g in gateways])
    assert statuses.count(429) == 30, statuses
    refused = [r for r in responses if r.status_code == 429]
    assert all(r.json()["error"]["type"] == "rate_limit_error" for r in refused)
    assert all(1 <= int(r.headers["retry-after"]) <= 60 for r in refused)
    assert all(r.headers["x-ratelimit-remaining-requests"] == "0" for r in refused)
    remaining = sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in responses if r.status_code == 200)
    assert remaining == list(range(30))  # each success saw the shared count, none twice
    # Both instances answered some of each: the count really was shared.
    for url in urls:
        info = httpx.get(f"{url}/v1/key", headers=auth("sk-team-a")).json()
        assert info["name"] == "team-a" and info["backend"] == "redis"
        assert info["usage"]["requests"] == 30


def test_max_parallel_under_concurrent_slow_requests(start_gateway, redis_server, redis_prefix, openai_fake) -> None:
    toml = gateway_toml(redis_server.url, redis_prefix, '[keys.p]\nkey = "sk-p"\nmax_parallel = 2\n',
                        upstream=openai_fake.url)
    gateways = [start_gateway(toml, workers=2), start_gateway(toml)]
    slow = {**CHAT, "model": "openai/slow-5"}  # long enough that all six overlap even on a loaded machine
    responses = asyncio.run(_post_all([g.url for g in gateways], "sk-p", slow, 6))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 429, 429, 429, 429], statuses
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["error"]["code"] == "too_many_parallel_requests"
    assert refused.headers["retry-after"] == "1"
    # The slots are released when the answers end: the next requests get in.
    assert wait_for(lambda: httpx.get(f"{gateways[0].url}/v1/key", headers=auth("sk-p")).json()["usage"]["in_flight"] == 0)
    assert httpx.post(f"{gateways[1].url}/v1/chat/completions", json=CHAT, headers=auth("sk-p")).status_code == 200


def test_client_gone_releases_its_parallel_slot(start_gateway, redis_server, redis_prefix, openai_fake) -> None:
    toml = gateway_toml(redis_server.url, redis_prefix, '[keys.p]\nkey = "sk-p"\nmax_parallel = 1\n',
                        upstream=openai_fake.url)
    gateway = start_gateway(toml)
    slow = {**CHAT, "model": "openai/slow-6"}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{gateway.url}/v1/chat/completions", json=slow, headers=auth("sk-p"), timeout=0.5)
    key = lambda: httpx.get(f"{gateway.url}/v1/key", headers=auth("sk-p")).json()["usage"]["in_flight"]  # noqa: E731
    assert wait_for(lambda: key() == 0, timeout=4.5)  # before the upstream's 6 s answer would free it
    assert httpx.post(f"{gateway.url}/v1/chat/completions", json=CHAT, headers=auth("sk-p")).status_code == 200


def test_tpm_charged_from_streamed_usage(start_gateway, redis_server, redis_prefix, openai_fake) -> None:
    toml = gateway_toml(redis_server.url, redis_prefix, '[keys.t]\nkey = "sk-t"\ntpm = 60\n', upstream=openai_fake.url)
    gateway = start_gateway(toml, workers=2)
    body = {"model": "openai/gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}

    def stream(extra: dict | None = None) -> httpx.Response:
        return httpx.post(f"{gateway.url}/v1/chat/completions", json={**body, **(extra or {})},
                          headers=auth("sk-t"), timeout=10)

    def tokens() -> int:
        return httpx.get(f"{gateway.url}/v1/key", headers=auth("sk-t")).json()["usage"]["tokens"]

    first = stream()
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-tokens"] == "60"
    events = [e for e in first.text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert '"usage"' not in first.text  # the gateway asked for usage; the client did not, so it is dropped
    # The fake upstream reports 7 tokens per stream (when asked): that, not the estimate, is charged.
    assert wait_for(lambda: tokens() == 7)
    second = stream({"stream_options": {"include_usage": True}})
    assert '"total_tokens": 7' in second.text or '"total_tokens":7' in second.text  # asked for: kept
    assert wait_for(lambda: tokens() == 14)
    charged = 14
    while (answer := stream()).status_code == 200:
        charged += 7
        assert wait_for(lambda: tokens() == charged)  # noqa: B023 - wait_for calls it before the loop goes on
    assert answer.status_code == 429 and "tokens per minute" in answer.json()["error"]["message"]
    # Refused once what was used plus this request's estimate (Content-Length / 4) passes the limit.
    estimate = len(json.dumps(body).replace(" ", "")) // 4
    assert charged <= 60 < charged + estimate + 8
    assert int(answer.headers["x-ratelimit-remaining-tokens"]) == 60 - charged


def test_key_sha256_globs_and_expiry_through_the_real_server(start_gateway, redis_server, redis_prefix) -> None:
    digest = hashlib.sha256(b"sk-hashed").hexdigest()
    keys = (f'[keys.h]\nkey_sha256 = "{digest}"\nmodels = ["mock/mock-*"]\nrpm = 100\n'
            '[keys.old]\nkey = "sk-old"\nexpires = "2020-01-01T00:00:00Z"\nrpm = 5\n')
    gateway = start_gateway(gateway_toml(redis_server.url, redis_prefix, keys))
    url = f"{gateway.url}/v1/chat/completions"
    assert httpx.post(url, json=CHAT, headers=auth("sk-hashed")).status_code == 200
    denied = httpx.post(url, json={**CHAT, "model": "mock/other"}, headers=auth("sk-hashed"))
    assert denied.status_code == 403 and denied.json()["error"]["type"] == "permission_error"
    expired = httpx.post(url, json=CHAT, headers=auth("sk-old"))
    assert expired.status_code == 401 and expired.json()["error"]["message"] == "key expired"
    assert "sk-hashed" not in gateway.output() and "sk-old" not in gateway.output()


def _redis_outage(start_gateway, server: RedisServer, prefix: str, policy: str) -> None:
    toml = gateway_toml(server.url, prefix, '[keys.k]\nkey = "sk-k"\nrpm = 3\n', f'on_backend_error = "{policy}"')
    gateway = start_gateway(toml, workers=2)
    url = f"{gateway.url}/v1/chat/completions"
    post = lambda: httpx.post(url, json=CHAT, headers=auth("sk-k"), timeout=10)  # noqa: E731
    assert [post().status_code for _ in range(4)] == [200, 200, 200, 429]
    server.kill()
    during = [post() for _ in range(6)]
    if policy == "open":
        assert [r.status_code for r in during] == [200] * 6  # served, unlimited, while Redis is away
        assert all("x-ratelimit-remaining-requests" not in r.headers for r in during)
    else:
        assert [r.status_code for r in during] == [503] * 6
        assert all(r.json()["error"]["code"] == "limits_unavailable" and r.headers["retry-after"] == "1" for r in during)
    output = gateway.output()
    assert "limits backend redis unavailable" in output
    # Warned once per interval per worker, not once per request.
    assert output.count("limits backend redis unavailable") <= 2
    assert "Traceback" not in output
    server.start()  # an empty Redis on the same port: limits apply again, without a restart
    assert wait_for(lambda: post().status_code == 429, timeout=15)
    info = httpx.get(f"{gateway.url}/v1/key", headers=auth("sk-k")).json()
    assert info["usage"]["requests"] == 3


def test_redis_killed_open_policy_serves_and_recovers(start_gateway, own_redis, redis_prefix) -> None:
    _redis_outage(start_gateway, own_redis, redis_prefix, "open")


def test_redis_killed_closed_policy_refuses_and_recovers(start_gateway, own_redis, redis_prefix) -> None:
    _redis_outage(start_gateway, own_redis, redis_prefix, "closed")


# --- in-process, the same Redis backend ------------------------------------------------------


def test_in_process_redis_backend_headers_and_key_info(redis_server, redis_prefix) -> None:
    app = create_app(parse(gateway_toml(redis_server.url, redis_prefix, '[keys.k]\nkey = "sk-k"\nrpm = 2\ntpm = 1000\n'),
                           "test", {}))
    headers = {**auth("sk-k"), "content-type": "application/json"}
    seen = []
    for _ in range(3):
        _, response = app.test_client.post("/v1/chat/completions", content=json.dumps(CHAT), headers=headers)
        seen.append((response.status, response.headers.get("x-ratelimit-remaining-requests")))
    assert seen == [(200, "1"), (200, "0"), (429, "0")]
    _, response = app.test_client.get("/v1/key", headers=headers)
    info = response.json
    assert info["usage"]["requests"] == 2 and info["backend"] == "redis" and info["backend_errors"] == 0


def test_in_process_redis_global_rpm_and_model_rule(redis_server, redis_prefix) -> None:
    toml = gateway_toml(redis_server.url, redis_prefix,
                        '[server.auth]\nkeys = ["plain"]\n[keys.k]\nkey = "sk-k"\nmodels = ["mock/mock-1"]\n',
                        "global_rpm = 3")
    app = create_app(parse(toml, "test", {}))

    def post(token: str, model: str = "mock/mock-1"):
        _, response = app.test_client.post("/v1/chat/completions", content=json.dumps({**CHAT, "model": model}),
                                           headers={**auth(token), "content-type": "application/json"})
        return response

    assert post("sk-k", "mock/other").status == 403  # counted: admitted before the body was read
    assert [post(t).status for t in ("plain", "sk-k", "plain")] == [200, 200, 429]
    refused = post("sk-k")
    assert refused.status == 429 and "gateway" in refused.json["error"]["message"]
