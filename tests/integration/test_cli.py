"""`llmg check-config`, config errors at start-up, the README's first command, multi-worker serve."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests.gateway import ROOT

README_CURL_BODY = {"model": "mock/mock-1", "messages": [{"role": "user", "content": "Hi"}]}


def run_cli(*args: str, env: dict[str, str] | None = None, cwd=None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "LLMG_CONFIG"}
    base.update(env or {})
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "llmg", *args], capture_output=True, text=True,
                          env=base, cwd=cwd, timeout=60)


def test_check_config_lists_registered_and_skipped(tmp_path) -> None:
    config = tmp_path / "llmg.toml"
    config.write_text('[providers.mock]\n[providers.openai]\napi_key = "sk-hidden-value"\n')
    result = run_cli("check-config", "--config", str(config), env={"GROQ_API_KEY": "gsk-hidden"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "registered providers" in out
    assert "openai" in out and "groq" in out and "mock" in out
    assert "no API key; set OPENROUTER_API_KEY or providers.openrouter.api_key" in out
    assert "sk-hidden-value" not in out and "gsk-hidden" not in out


def test_check_config_uses_llmg_config_env_and_warns_on_unset(tmp_path) -> None:
    config = tmp_path / "custom.toml"
    config.write_text('[server.auth]\nkeys = ["${GW_KEY_NOT_SET}"]\n')
    result = run_cli("check-config", env={"LLMG_CONFIG": str(config)})
    assert result.returncode == 0
    assert str(config) in result.stdout
    assert "GW_KEY_NOT_SET is not set" in result.stdout


def test_invalid_config_stops_serve_with_path(tmp_path) -> None:
    config = tmp_path / "llmg.toml"
    config.write_text("[server]\nport = \"eighty\"\n")
    result = run_cli("serve", "--config", str(config))
    assert result.returncode == 2
    assert "server.port: Expected `int`, got `str`" in result.stderr
    assert "Traceback" not in result.stderr


def test_readme_default_answers_without_any_key(start_gateway) -> None:
    gateway = start_gateway(None)  # no --config, no llmg.toml: the embedded default
    response = httpx.post(f"{gateway.url}/v1/chat/completions", json=README_CURL_BODY,
                          headers={"Authorization": "Bearer any-token"})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant"


def test_auth_page_curl_examples(start_gateway) -> None:
    gateway = start_gateway(None)
    body = {"model": "openai/gpt-4", "messages": [{"role": "user", "content": "Hi"}]}
    url = f"{gateway.url}/v1/chat/completions"
    # No OPENAI_API_KEY: past auth, the provider is unknown (the quick-reference row).
    accepted = httpx.post(url, json=body, headers={"Authorization": "Bearer any-value-here"})
    assert accepted.status_code == 404
    # The page's message, then the reason the gateway knows.
    assert accepted.json()["error"]["message"] == (
        "Unknown provider: openai (not registered: no API key; set OPENAI_API_KEY or providers.openai.api_key)")
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        rejected = httpx.post(url, json=body, headers=headers)
        assert rejected.status_code == 401
        assert rejected.json()["error"]["type"] == "authentication_error"


def test_two_workers_serve(start_gateway, openai_fake) -> None:
    """Two worker processes really run: each opens its own model directory, which asks the
    provider for its model list once at start-up (the next refresh is minutes away), so the fake
    sees two list requests; with one worker it would see one."""
    import time

    def listings() -> int:
        return sum(1 for r in list(openai_fake.requests) if r.path == "/v1/models" and r.headers.get("authorization") == "Bearer sk-fake-openai")

    before = listings()
    config = f'[providers.mock]\n\n[providers.openai]\napi_key = "sk-fake-openai"\nbase_url = "{openai_fake.url}/v1"\n'
    gateway = start_gateway(config, workers=2)
    deadline = time.monotonic() + 30
    while listings() - before < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert listings() - before == 2
    for _ in range(10):
        response = httpx.post(f"{gateway.url}/v1/chat/completions", json=README_CURL_BODY, headers=gateway.auth)
        assert response.status_code == 200
