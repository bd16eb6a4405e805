"""OpenAI's newest tool features through translated providers: ``allowed_tools`` is resolved to the
subset it allows; custom tools, custom tool choices and custom tool calls are a clear 400 naming the
feature, before any upstream call. One gateway, three translated providers behind their fakes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fakes import anthropic_upstream, cohere_upstream, gemini_upstream
from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}
SEARCH = {"type": "function", "function": {"name": "search", "parameters": {
    "type": "object", "properties": {"query": {"type": "string"}}}}}
CUSTOM = {"type": "custom", "custom": {"name": "code_exec", "description": "Runs Python"}}
MODELS = {"anthropic": "anthropic/claude-sonnet-4-5", "gemini": "gemini/gemini-2.5-flash", "cohere": "cohere/command-a-03-2025"}


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeServer]]:
    servers = {"anthropic": anthropic_upstream.start("sk-ant-k"), "gemini": gemini_upstream.start("g-key"),
               "cohere": cohere_upstream.start("co-key")}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="module")
def gateway(fakes) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(f"""
[providers.anthropic]
api_key = "sk-ant-k"
base_url = "{fakes['anthropic'].url}/v1"

[providers.gemini]
api_key = "g-key"
base_url = "{fakes['gemini'].url}/v1beta"

[providers.cohere]
api_key = "co-key"
base_url = "{fakes['cohere'].url}"
""").start()
    yield gw
    gw.stop()


def post(gateway: GatewayProcess, provider: str, **extra) -> httpx.Response:
    body = {"model": MODELS[provider], "messages": [{"role": "user", "content": "weather in Paris?"}], **extra}
    return httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=gateway.auth, timeout=20)


@pytest.mark.parametrize("provider", list(MODELS))
@pytest.mark.parametrize(("extra", "param", "feature"), [
    ({"tools": [WEATHER, CUSTOM]}, "tools[1]", "custom tools"),
    ({"tools": [WEATHER], "tool_choice": {"type": "custom", "custom": {"name": "code_exec"}}}, "tool_choice", "custom tool_choice"),
    ({"messages": [{"role": "user", "content": "run"},
                   {"role": "assistant", "tool_calls": [{"id": "c1", "type": "custom", "custom": {"name": "code_exec", "input": "1"}}]},
                   {"role": "tool", "tool_call_id": "c1", "content": "1"}]}, "messages[1].tool_calls[0]", "custom tool calls"),
])
def test_custom_tool_features_are_a_clear_400(gateway, fakes, provider, extra, param, feature) -> None:
    fakes[provider].clear()
    response = post(gateway, provider, **extra)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (param, "unsupported_feature", "invalid_request_error")
    assert feature in error["message"]
    assert not fakes[provider].requests


def _sent_tool_names(provider: str, body: dict) -> list[str]:
    if provider == "gemini":
        return [d["name"] for t in body["tools"] for d in t["functionDeclarations"]]
    if provider == "cohere":
        return [t["function"]["name"] for t in body["tools"]]
    return [t["name"] for t in body["tools"]]


@pytest.mark.parametrize("provider", list(MODELS))
def test_allowed_tools_sends_only_the_allowed_subset(gateway, fakes, provider) -> None:
    fakes[provider].clear()
    choice = {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [
        {"type": "function", "function": {"name": "get_weather"}}]}}
    response = post(gateway, provider, tools=[SEARCH, WEATHER], tool_choice=choice)
    assert response.status_code == 200, response.text
    sent = fakes[provider].requests[-1].json()
    assert _sent_tool_names(provider, sent) == ["get_weather"]
    # "required" reaches each provider in its own words
    if provider == "anthropic":
        assert sent["tool_choice"] == {"type": "any"}
    elif provider == "gemini":
        assert sent["toolConfig"]["functionCallingConfig"]["mode"] == "ANY"
    else:
        assert sent["tool_choice"] == "REQUIRED"


def test_allowed_tools_naming_no_tool_is_400(gateway, fakes) -> None:
    choice = {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [
        {"type": "function", "function": {"name": "nope"}}]}}
    response = post(gateway, "anthropic", tools=[WEATHER], tool_choice=choice)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_tool_choice"
