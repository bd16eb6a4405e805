"""Bedrock credentials the way AWS hands them out (issue 17, item 3).

botocore's chain against fakes on 127.0.0.1 (a container-role endpoint, STS AssumeRoleWithWebIdentity
for web identity / IRSA and the SSO portal's GetRoleCredentials, each issuing keys that expire in a
few seconds; a shared-config profile), Bedrock API keys (AWS_BEARER_TOKEN_BEDROCK, Bearer auth), and
the rule for incomplete settings. Before this, Bedrock read static keys once at start-up, so
session credentials expired under a running gateway, and it had no Bearer auth.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

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
    # Keys that expire 8 s after issue: the gateway must fetch new ones, off the event loop,
    # while it keeps serving (the old code read credentials once, at start-up).
    issuer = FakeServer(aws_creds_upstream.make_app(known, ttl=8)).start()
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


# --- web identity / IRSA and SSO: botocore's own STS and SSO clients, pointed at loopback ------------
# The fakes' keys live TTL seconds and Bedrock rejects them after that (ExpiredTokenException), so a
# gateway that does not refresh fails the asks below, not just the key-change check.
TTL = 8  # seconds; the gateway stops using a key at half its life, Bedrock rejects it at its end
ROLE_ARN = "arn:aws:iam::123456789012:role/llmg-bedrock"
ACCOUNT, SSO_ROLE = "123456789012", "BedrockInvoke"
SSO_TOKEN = "aoaAAAAAGgExampleSsoAccessToken0123456789"


def isolated(tmp_path: Path, config: str = "") -> dict[str, str]:
    """HOME, the shared config and the credentials file of the test only. AWS_PROFILE="" as
    `docker run -e AWS_PROFILE=` leaves it: unset to botocore, not a profile named "" (main's code
    made it an explicit "default" profile, which must exist and turns off web identity)."""
    aws = tmp_path / ".aws"
    aws.mkdir(exist_ok=True)
    (aws / "config").write_text(config)
    (aws / "credentials").write_text("")
    return {**CLEAN, "HOME": str(tmp_path), "AWS_CONFIG_FILE": str(aws / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(aws / "credentials"), "AWS_PROFILE": "",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": ""}


def keys_rotate(gateway, fake: FakeServer, prefix: str, rotations: int = 2, on_rotation=None) -> list[str]:
    """Ask until ``rotations`` new keys have signed; every answer must be the echo (no 403)."""
    deadline = time.monotonic() + 45
    stream = False
    while True:
        try:
            assert ask(gateway, "tick", stream=stream) == "echo: tick"
        except openai.APIError as exc:
            raise AssertionError(f"{exc}\n--- gateway log ---\n{gateway.output()[-3000:]}") from None
        stream = not stream
        used = list(dict.fromkeys(signing_keys(fake)))
        assert all(k.startswith(prefix) for k in used), used
        if len(used) > rotations:
            return used
        if on_rotation is not None and len(used) == 2:
            on_rotation()
            on_rotation = None
        assert time.monotonic() < deadline, f"the expiring credentials were not replaced: {used}"
        time.sleep(0.5)


def test_web_identity_irsa_credentials_are_refreshed(start_gateway, fake, known, tmp_path) -> None:
    token_file = tmp_path / "eks-token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.first-service-account-token.sig")
    accepted = [token_file.read_text()]
    sts = FakeServer(aws_creds_upstream.make_sts_app(known, TTL, ROLE_ARN, accepted)).start()
    try:
        gateway = start_gateway(section(fake), env={
            **isolated(tmp_path), "AWS_ROLE_ARN": ROLE_ARN, "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
            "AWS_ROLE_SESSION_NAME": "llmg-gateway", "AWS_ENDPOINT_URL_STS": sts.url})

        def rotate_token() -> None:  # EKS rewrites the projected token file; the old one stops working
            token_file.write_text("eyJhbGciOiJSUzI1NiJ9.second-service-account-token.sig")
            accepted[:] = [token_file.read_text()]

        used = keys_rotate(gateway, fake, "ASIAFAKEWEBIDENTITY", rotations=3, on_rotation=rotate_token)
        assert len(used) >= 4 and sts.events["webidentity_credentials"] >= 4
        calls = [r for r in sts.requests if r.method == "POST"]
        forms = [dict(p.split("=", 1) for p in r.body.decode().split("&")) for r in calls]
        assert {f["Action"] for f in forms} == {"AssumeRoleWithWebIdentity"}
        assert {f["RoleSessionName"] for f in forms} == {"llmg-gateway"}
        assert any("second-service-account-token" in f["WebIdentityToken"] for f in forms)  # the file is read again
        assert all("authorization" not in r.headers for r in calls)  # AssumeRoleWithWebIdentity is unsigned
        sent = [r for r in fake.requests if "/model/" in r.path]
        assert all(r.headers["x-amz-security-token"].startswith("webidentity-session-token-") for r in sent)
        output = gateway.output()
        assert "webidentity/Secret+" not in output and "session-token-" not in output and "service-account-token" not in output
    finally:
        sts.stop()


SSO_CONFIGS = {
    # The current form: the profile names an [sso-session]; the token cache file is sha1(session
    # name). The portal's endpoint comes from $AWS_ENDPOINT_URL_SSO.
    "sso_session": ("corp", True, f"""[profile llmg-sso]
sso_session = corp
sso_account_id = {ACCOUNT}
sso_role_name = {SSO_ROLE}
region = {REGION}

[sso-session corp]
sso_start_url = https://corp-example.awsapps.com/start
sso_region = us-east-1
sso_registration_scopes = sso:account:access
"""),
    # The legacy form: sso_start_url in the profile; the cache file is sha1(start URL). The
    # portal's endpoint comes from the shared config's [services] section this time.
    "sso_start_url": ("https://corp-example.awsapps.com/start", False, f"""[profile llmg-sso]
sso_start_url = https://corp-example.awsapps.com/start
sso_region = us-east-1
sso_account_id = {ACCOUNT}
sso_role_name = {SSO_ROLE}
region = {REGION}
services = loopback-fakes

[services loopback-fakes]
sso =
  endpoint_url = {{portal}}
"""),
}


@pytest.mark.parametrize("form", sorted(SSO_CONFIGS))
def test_sso_profile_credentials_are_refreshed(start_gateway, fake, known, tmp_path, form) -> None:
    cache_key, by_env, config = SSO_CONFIGS[form]
    portal = FakeServer(aws_creds_upstream.make_sso_app(known, TTL, SSO_TOKEN, ACCOUNT, SSO_ROLE)).start()
    try:
        env = isolated(tmp_path, config.replace("{portal}", portal.url))
        # What `aws sso login` leaves behind: the portal access token, valid for hours.
        cache = tmp_path / ".aws" / "sso" / "cache"
        cache.mkdir(parents=True)
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 8 * 3600))
        (cache / f"{hashlib.sha1(cache_key.encode()).hexdigest()}.json").write_text(json.dumps({
            "startUrl": "https://corp-example.awsapps.com/start", "region": "us-east-1", "accessToken": SSO_TOKEN,
            "expiresAt": expires}))
        env["AWS_PROFILE"] = "llmg-sso"
        if by_env:
            env["AWS_ENDPOINT_URL_SSO"] = portal.url
        gateway = start_gateway(section(fake), env=env)
        used = keys_rotate(gateway, fake, "ASIAFAKESSO")
        assert portal.events["sso_credentials"] >= len(used) >= 3
        calls = [r for r in portal.requests if r.path == aws_creds_upstream.SSO_PATH]
        assert {(r.query["account_id"], r.query["role_name"]) for r in calls} == {(ACCOUNT, SSO_ROLE)}
        assert {r.headers["x-amz-sso_bearer_token"] for r in calls} == {SSO_TOKEN}
        output = gateway.output()
        assert SSO_TOKEN not in output and "sso/Secret+" not in output and "sso-session-token-" not in output
    finally:
        portal.stop()


def test_rejected_web_identity_token_is_an_error_envelope(start_gateway, fake, known, tmp_path) -> None:
    # STS refuses the token (a revoked service account, a wrong audience): each request gets an
    # OpenAI error envelope naming the provider, fast, and neither the token nor STS's XML leaks.
    token_file = tmp_path / "eks-token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.revoked-service-account-token.sig")
    sts = FakeServer(aws_creds_upstream.make_sts_app(known, TTL, ROLE_ARN, [])).start()
    try:
        gateway = start_gateway(section(fake), env={
            **isolated(tmp_path), "AWS_ROLE_ARN": ROLE_ARN, "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
            "AWS_ENDPOINT_URL_STS": sts.url})
        for _ in range(2):
            started = time.monotonic()
            response = httpx.post(f"{gateway.url}/v1/chat/completions", headers=gateway.auth, timeout=20,
                                  json={"model": f"bedrock/{CLAUDE}", "messages": [{"role": "user", "content": "x"}]})
            assert time.monotonic() - started < 10
            error = response.json()["error"]
            assert response.status_code == 502 and error["code"] == "provider_misconfigured", response.text
            assert "bedrock" in error["message"] and "<" not in error["message"]
        assert sts.events.get("webidentity_credentials") is None  # nothing was issued
        assert [r for r in sts.requests if r.method == "POST"]  # STS was asked
        assert not [r for r in fake.requests if "/model/" in r.path]  # nothing unsigned reached Bedrock
        output = gateway.output()
        assert "InvalidIdentityToken" in output  # the reason is in the log ...
        assert "revoked-service-account-token" not in output  # ... the token is not
    finally:
        sts.stop()


# --- credentials refused before their stated expiry: renewed once, the call retried once ----------
# The keys below are stated to live an hour; the fake revokes them early (aws_creds_upstream.revoke).
# main's code kept signing with a refused key until its cache's own deadline: every request failed.
LONG_TTL = 3600


def chat(gateway, content: str) -> httpx.Response:
    return httpx.post(f"{gateway.url}/v1/chat/completions", headers=gateway.auth, timeout=20,
                      json={"model": f"bedrock/{CLAUDE}", "messages": [{"role": "user", "content": content}]})


def web_identity_gateway(start_gateway, fake, known, tmp_path, control=None):
    token_file = tmp_path / "eks-token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.service-account-token.sig")
    sts = FakeServer(aws_creds_upstream.make_sts_app(known, LONG_TTL, ROLE_ARN, [token_file.read_text()], control)).start()
    gateway = start_gateway(section(fake), env={
        **isolated(tmp_path), "AWS_ROLE_ARN": ROLE_ARN, "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ROLE_SESSION_NAME": "llmg-gateway", "AWS_ENDPOINT_URL_STS": sts.url})
    return gateway, sts


def bedrock_errors(fake: FakeServer) -> int:
    return len([r for r in fake.requests if "/model/" in r.path]) - len(set(signing_keys(fake)))


@pytest.mark.parametrize("how", ["expired", "unknown"])  # 403 ExpiredTokenException / UnrecognizedClientException
def test_credentials_revoked_early_are_renewed_and_the_call_retried(start_gateway, fake, known, tmp_path, how) -> None:
    from concurrent.futures import ThreadPoolExecutor

    gateway, sts = web_identity_gateway(start_gateway, fake, known, tmp_path)
    try:
        assert ask(gateway, "one") == "echo: one"
        first = signing_keys(fake)[-1]
        aws_creds_upstream.revoke(known, first, how)
        assert ask(gateway, "two") == "echo: two"  # refused once, renewed, retried: the client sees no error
        second = signing_keys(fake)[-1]
        assert second != first and signing_keys(fake) == [first, first, second]
        assert sts.events["webidentity_credentials"] == 2
        aws_creds_upstream.revoke(known, second, how)
        assert ask(gateway, "streamed", stream=True) == "echo: streamed"  # streams too
        third = signing_keys(fake)[-1]
        assert signing_keys(fake)[-2:] == [second, third] and sts.events["webidentity_credentials"] == 3
        # Eight requests refused with the same key at once: one renewal (single-flight), eight answers.
        aws_creds_upstream.revoke(known, third, how)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda n: chat(gateway, f"c{n}"), range(8)))
        assert [a.status_code for a in answers] == [200] * 8, answers[0].text
        assert sts.events["webidentity_credentials"] == 4
        # Embeddings (InvokeModel) go through the same renewal.
        aws_creds_upstream.revoke(known, signing_keys(fake)[-1], how)
        embedded = httpx.post(f"{gateway.url}/v1/embeddings", headers=gateway.auth, timeout=20,
                              json={"model": "bedrock/amazon.titan-embed-text-v2:0", "input": "hello"})
        assert embedded.status_code == 200 and len(embedded.json()["data"][0]["embedding"]) == 1024, embedded.text
        assert sts.events["webidentity_credentials"] == 5
        output = gateway.output()
        assert output.count("refused the cached AWS credentials") == 4, output  # one line per renewal, not per request
        assert "webidentity/Secret+" not in output and "session-token-" not in output and "service-account-token" not in output
    finally:
        sts.stop()


def test_a_second_refusal_is_the_error_envelope(start_gateway, fake, known, tmp_path) -> None:
    # The renewed key is refused too (the role itself revoked): one retry, then the error, no loop.
    control = {"revoke_on_issue": False}
    gateway, sts = web_identity_gateway(start_gateway, fake, known, tmp_path, control)
    try:
        assert ask(gateway, "one") == "echo: one"
        control["revoke_on_issue"] = True
        aws_creds_upstream.revoke(known, signing_keys(fake)[-1])
        before = len(fake.requests)
        response = chat(gateway, "two")
        assert response.status_code == 401 and response.json()["error"]["code"] == "provider_auth_failed", response.text
        assert response.headers["x-llmg-provider"] == "bedrock"
        assert len(fake.requests) - before == 2  # the call and its one retry
        assert sts.events["webidentity_credentials"] == 2
        output = gateway.output()
        assert "webidentity/Secret+" not in output and "session-token-" not in output and response.text.count("ASIA") == 0
    finally:
        sts.stop()


@pytest.mark.parametrize("source", ["static keys", "static profile"])
def test_static_keys_are_never_renewed_or_retried(start_gateway, fake, known, tmp_path, source) -> None:
    # A static key Bedrock refuses stays refused: resolving it again would give the same key.
    # (Passes on main as well, which never retried anything: it guards the rule, not a fix.)
    if source == "static keys":
        config = section(fake, f'api_key = "{PROFILE_ACCESS}"\nparams = {{ secret_access_key = "{PROFILE_SECRET}" }}\n')
        env = {**CLEAN, "HOME": str(tmp_path)}
    else:
        config = section(fake, 'params = { profile = "llmg" }\n')
        env = isolated(tmp_path)
        (tmp_path / ".aws" / "credentials").write_text(
            f"[llmg]\naws_access_key_id = {PROFILE_ACCESS}\naws_secret_access_key = {PROFILE_SECRET}\n")
    gateway = start_gateway(config, env=env)
    assert ask(gateway, "one") == "echo: one"
    aws_creds_upstream.revoke(known, PROFILE_ACCESS, "unknown")
    before = len(fake.requests)
    response = chat(gateway, "two")
    assert response.status_code == 401 and response.json()["error"]["code"] == "provider_auth_failed", response.text
    assert len(fake.requests) - before == 1  # no retry
    output = gateway.output()
    assert "refused the cached AWS credentials" not in output and PROFILE_SECRET not in output
