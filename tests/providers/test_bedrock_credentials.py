"""Bedrock credentials the way AWS hands them out (issue 17, item 3).

botocore's chain against fakes on 127.0.0.1 (a container-role endpoint whose keys expire in a few
seconds, a shared-config profile), Bedrock API keys (AWS_BEARER_TOKEN_BEDROCK, Bearer auth), and
the rule for incomplete settings. Before this, Bedrock read static keys once at start-up, so
session credentials expired under a running gateway, and it had no Bearer auth.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from llmg.config import parse
from llmg.providers.registry import plan
from tests.fakes import aws_creds_upstream, bedrock_upstream
from tests.fakes.server import FakeServer

REGION = "us-west-2"
CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
BEARER = "bedrock-api-key-ABSKfakeEXAMPLE0123456789"
PROFILE_ACCESS, PROFILE_SECRET = "AKIDFAKEPROFILE001", "profile/Secret+Key0123456789EXAMPLE"
# Nothing of the machine running the tests may leak in: HOME is a fresh directory per test. Only
# variables botocore treats "" as unset for are blanked (an empty AWS_CONTAINER_CREDENTIALS_* or
# AWS_CONFIG_FILE would mean something else to it).
CLEAN = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_REGION": REGION,
         "AWS_DEFAULT_REGION": "", "AWS_BEARER_TOKEN_BEDROCK": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
         "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture
def known() -> dict[str, tuple[str, str | None]]:
    return {"bearer:" + BEARER: ("", None), PROFILE_ACCESS: (PROFILE_SECRET, None)}


@pytest.fixture
def fake(known) -> Iterator[FakeServer]:
    server = bedrock_upstream.start(known, REGION)
    yield server
    server.stop()


def section(fake: FakeServer, extra: str = "") -> str:
    return f'[providers.bedrock]\nbase_url = "{fake.url}"\ntimeout = 10\n{extra}'


def ask(gateway, content: str = "hi", stream: bool = False) -> str:
    client = openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0, timeout=20)
    if stream:
        chunks = client.chat.completions.create(model=f"bedrock/{CLAUDE}", stream=True, messages=[{"role": "user", "content": content}])
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return client.chat.completions.create(model=f"bedrock/{CLAUDE}", messages=[{"role": "user", "content": content}]).choices[0].message.content


def signing_keys(fake: FakeServer) -> list[str]:
    return [r.headers["authorization"].split("Credential=")[1].split("/")[0] for r in fake.requests if "/model/" in r.path]


def test_bedrock_api_key_is_bearer_auth(start_gateway, fake, tmp_path) -> None:
    gateway = start_gateway(section(fake), env={**CLEAN, "HOME": str(tmp_path), "AWS_BEARER_TOKEN_BEDROCK": BEARER})
    assert ask(gateway) == "echo: hi"
    assert ask(gateway, "streamed", stream=True) == "echo: streamed"
    sent = [r for r in fake.requests if "/model/" in r.path]
    assert [r.headers["authorization"] for r in sent] == [f"Bearer {BEARER}"] * 2
    assert all("x-amz-date" not in r.headers for r in sent)  # no SigV4 alongside
    assert BEARER not in gateway.output()


def test_wrong_bedrock_api_key_is_401(start_gateway, fake, tmp_path) -> None:
    gateway = start_gateway(section(fake, 'params = { bearer_token = "not-a-real-key-0000" }\n'),
                            env={**CLEAN, "HOME": str(tmp_path)})
    response = httpx.post(f"{gateway.url}/v1/chat/completions", headers=gateway.auth, timeout=20,
                          json={"model": f"bedrock/{CLAUDE}", "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 401 and response.json()["error"]["code"] == "provider_auth_failed"
    assert "not-a-real-key-0000" not in gateway.output()


def test_container_role_credentials_are_refreshed_under_a_running_gateway(start_gateway, fake, known, tmp_path) -> None:
    # Keys that expire 6 s after issue: the gateway must fetch new ones, off the event loop,
    # while it keeps serving (the old code read credentials once, at start-up).
    issuer = FakeServer(aws_creds_upstream.make_app(known, ttl=6)).start()
    try:
        gateway = start_gateway(section(fake), env={
            **CLEAN, "HOME": str(tmp_path),
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{issuer.url}{aws_creds_upstream.PATH}"})
        assert ask(gateway, "one") == "echo: one"
        assert ask(gateway, "two", stream=True) == "echo: two"
        first = signing_keys(fake)
        assert len(set(first)) == 1 and first[0].startswith("ASIAFAKECONTAINER")
        fetched = issuer.events["container_credentials"]
        deadline = time.monotonic() + 30
        while signing_keys(fake)[-1] == first[0]:
            assert time.monotonic() < deadline, "the expiring credentials were never replaced"
            time.sleep(0.5)
            assert ask(gateway, "later") == "echo: later"
        assert issuer.events["container_credentials"] > fetched
        # Session tokens are signed and never logged.
        assert all(r.headers.get("x-amz-security-token", "").startswith("container-session-token-")
                   for r in fake.requests if "/model/" in r.path)
        assert "container/Secret+" not in gateway.output() and "container-session-token" not in gateway.output()
    finally:
        issuer.stop()


def test_shared_config_profile(start_gateway, fake, tmp_path) -> None:
    aws = tmp_path / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text(f"[llmg]\naws_access_key_id = {PROFILE_ACCESS}\naws_secret_access_key = {PROFILE_SECRET}\n")
    gateway = start_gateway(section(fake, 'params = { profile = "llmg" }\n'), env={**CLEAN, "HOME": str(tmp_path)})
    assert ask(gateway) == "echo: hi"
    assert signing_keys(fake) == [PROFILE_ACCESS]
    assert PROFILE_SECRET not in gateway.output()


def test_no_credentials_skips_bedrock_with_the_reason(tmp_path) -> None:
    loaded = parse("[providers.bedrock]\n", "t.toml", {})
    result = plan(loaded, {**CLEAN, "HOME": str(tmp_path)})
    assert "bedrock" not in result.registered
    assert result.skipped["bedrock"].startswith("no AWS credentials: set $AWS_BEARER_TOKEN_BEDROCK")
    registered = plan(loaded, {**CLEAN, "HOME": str(tmp_path), "AWS_BEARER_TOKEN_BEDROCK": BEARER})
    assert "bedrock" in registered.registered
