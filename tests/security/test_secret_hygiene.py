"""Issue 9 item 11: secret hygiene, end to end.

Known secret values are planted in the config and the environment (gateway key, provider keys,
a custom auth header, URL userinfo and query, a service-account key) and a hostile upstream
(tests/fakes/leaky_upstream.py) echoes everything it receives, exchanged tokens included, into
every error. A varied series of requests (successes, upstream 4xx/5xx, timeouts, redirects, bad
input, streams, the model list) runs against a real gateway subprocess with debug logging and the
access log on, then check-config runs on the same config. Every byte written to clients (bodies and
headers), to the log and to stdout is scanned: no secret may appear.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

from llmg.config import parse
from llmg.providers.registry import plan
from tests.fakes import gemini_upstream, leaky_upstream
from tests.gateway import ROOT, GatewayProcess

GW_KEY = "gwkey-LEAKCHECK-0a1b2c3d4e"
OPENAI_KEY = "sk-LEAKCHECK-openai-99887766"
HEADER_SECRET = "hdr-LEAKCHECK-55443322"
ANTHROPIC_KEY = "sk-ant-LEAKCHECK-1234abcd"
WATSONX_KEY = "wx-LEAKCHECK-apikey-31415926"
GITHUB_TOKEN = "gho_LEAKCHECKgithubtoken123"
URL_PASSWORD = "urlpass-LEAKCHECK-2718"
URL_QUERY = "qs-LEAKCHECK-777"
ENV = {"LLMG_TEST_GW_KEY": GW_KEY, "ANTHROPIC_API_KEY": ANTHROPIC_KEY, "LLMG_TEST_WX_KEY": WATSONX_KEY,
       "LLMG_TEST_HDR": HEADER_SECRET}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    fake = leaky_upstream.start()
    info, _ = gemini_upstream.make_service_account(f"{fake.url}/token", "p1")
    key_file = tmp_path_factory.mktemp("sa") / "sa.json"
    key_file.write_text(json.dumps(info))
    private_key_line = info["private_key"].splitlines()[5]
    config = f"""
[server]
access_log = true

[server.auth]
keys = ["${{LLMG_TEST_GW_KEY}}"]

[logging]
level = "debug"

[providers.mock]

[providers.openai]
api_key = "{OPENAI_KEY}"
base_url = "{fake.url}/v1"
timeout = 1
headers = {{ "x-tenant-secret" = "${{LLMG_TEST_HDR}}" }}

[providers.anthropic]
base_url = "{fake.url}/v1"
timeout = 2

[providers.watsonx]
api_key = "${{LLMG_TEST_WX_KEY}}"
base_url = "{fake.url}"
timeout = 2
params = {{ project_id = "p1", token_url = "{fake.url}/identity/token" }}

[providers.vertex_ai]
base_url = "{fake.url}"
timeout = 2
params = {{ credentials_file = "{key_file}", location = "us-central1" }}

[providers.github_copilot]
api_key = "{GITHUB_TOKEN}"
timeout = 2
params = {{ token_url = "{fake.url}/copilot_internal/v2/token" }}

[providers.leakyurl]
base_url = "http://leakuser:{URL_PASSWORD}@127.0.0.1:9/v1?sig={URL_QUERY}"
"""
    secrets = [GW_KEY, OPENAI_KEY, HEADER_SECRET, ANTHROPIC_KEY, WATSONX_KEY, GITHUB_TOKEN, URL_PASSWORD, URL_QUERY,
               private_key_line, *leaky_upstream.TOKENS.values(), info["private_key_id"]]
    gateway = GatewayProcess(config, env=ENV, token=GW_KEY).start()
    yield fake, gateway, config, secrets
    gateway.stop()
    fake.stop()


def _requests(gateway: GatewayProcess) -> list[bytes]:
    """Run the series; return every byte the clients received (status line parts, headers, bodies)."""
    seen: list[bytes] = []
    auth = gateway.auth

    def record(r: httpx.Response) -> None:
        seen.append(f"{r.status_code} {r.headers}".encode() + b"\n" + r.content)

    def chat(model: str, stream: bool = False, headers: dict | None = None, content: bytes | None = None) -> None:
        body = content if content is not None else json.dumps(
            {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}).encode()
        r = httpx.post(f"{gateway.url}/v1/chat/completions", content=body, timeout=30,
                       headers={"content-type": "application/json", **(auth if headers is None else headers)})
        record(r)

    for model in ["mock/m", "openai/gpt-ok", "openai/x-bad", "openai/x-boom", "openai/x-slow", "openai/x-redirect",
                  "anthropic/claude-bad", "anthropic/claude-boom", "watsonx/ibm/x-bad", "watsonx/ibm/x-boom",
                  "vertex_ai/gemini-bad", "vertex_ai/gemini-boom", "github_copilot/gpt-bad", "github_copilot/gpt-boom",
                  "leakyurl/anything"]:
        chat(model)
        chat(model, stream=True)
    chat("mock/m", headers={"authorization": "Bearer wrong-key"})
    chat("mock/m", headers={"authorization": f"Bearer {GW_KEY}x"})
    chat("mock/m", content=b'{"model": "mock/m", "messages": [')
    chat("mock/m", content=b'{"model":"mock/m","messages":[{"role":"user","content":"hi"}],"x":' + b"[" * 200 + b"]" * 200 + b"}")
    chat("nope/m")
    r = httpx.post(f"{gateway.url}/v1/embeddings", json={"model": "openai/x-bad", "input": "a"}, headers=auth, timeout=30)
    record(r)
    for path in ("/v1/models", "/health", "/v1/models/openai/x"):
        record(httpx.get(f"{gateway.url}{path}", headers=auth, timeout=30))
    return seen


def test_no_secret_reaches_clients_logs_or_stdout(setup):
    fake, gateway, config, secrets = setup
    seen = _requests(gateway)
    time.sleep(1.5)  # let background work (model-list refresh, token refreshes) log what it logs
    statuses = [chunk.split(b" ", 1)[0] for chunk in seen]
    assert b"200" in statuses and b"400" in statuses and b"502" in statuses and b"504" in statuses and b"401" in statuses
    # The hostile upstream did receive the secrets (so the test can catch a leak) ...
    received = b"".join(f"{r.headers}".encode() + r.body for r in fake.requests)
    for planted in (OPENAI_KEY, HEADER_SECRET, ANTHROPIC_KEY, leaky_upstream.TOKENS["watsonx"], leaky_upstream.TOKENS["vertex"]):
        assert planted.encode() in received, planted
    # ... and echoed them back, yet none of it reached a client, the log or stdout.
    check = subprocess.run([sys.executable, "-m", "llmg", "check-config", "--config", str(_write(gateway, config))],
                           capture_output=True, cwd=ROOT, timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **ENV})
    assert check.returncode == 0, check.stderr
    assert b"leakyurl" in check.stdout and b"127.0.0.1:9" in check.stdout
    outputs = {"clients": b"\n".join(seen), "log": gateway.output().encode(), "check-config": check.stdout + check.stderr}
    for where, data in outputs.items():
        for secret in secrets:
            assert secret.encode() not in data, f"{secret!r} leaked to {where}"


def _write(gateway: GatewayProcess, config: str):
    path = gateway._dir.name + "/check.toml"
    with open(path, "w") as fh:
        fh.write(config)
    return path


def test_reprs_hide_secrets():
    loaded = parse(f'[server.auth]\nkeys = ["{GW_KEY}"]\n[providers.openai]\napi_key = "{OPENAI_KEY}"\n'
                   f'base_url = "https://u:{URL_PASSWORD}@h.example/v1?k={URL_QUERY}"\nheaders = {{ "x-a" = "{HEADER_SECRET}" }}\n'
                   f'params = {{ secret_access_key = "{WATSONX_KEY}" }}\n', "t", {})
    settings = plan(loaded, {}).registered["openai"]
    for shown in (repr(loaded.config), repr(loaded.config.providers), repr(settings), str(settings)):
        for secret in (GW_KEY, OPENAI_KEY, URL_PASSWORD, URL_QUERY, HEADER_SECRET, WATSONX_KEY):
            assert secret not in shown, (secret, shown)
    assert "x-a" in repr(settings) and "secret_access_key" in repr(settings)  # names stay visible
