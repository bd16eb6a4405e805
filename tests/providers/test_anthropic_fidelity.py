"""Anthropic's documented rules, enforced by the strict fake, kept by the translation: extended
thinking (from ``thinking`` or ``reasoning_effort``) with its max_tokens / temperature / top_k /
top_p / forced-tool rules, whitespace-only text and stop sequences, no email as metadata.user_id."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fakes import anthropic_upstream
from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess

KEY = "sk-ant-fidelity-0123"
MODEL = "anthropic/claude-sonnet-4-5"
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeServer]:
    server = anthropic_upstream.start(KEY)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(fake: FakeServer) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(f'[providers.anthropic]\napi_key = "{KEY}"\nbase_url = "{fake.url}/v1"\ntimeout = 5\n').start()
    yield gw
    gw.stop()


def post(gateway: GatewayProcess, fake: FakeServer, **extra) -> httpx.Response:
    fake.clear()
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], **extra}
    return httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=gateway.auth, timeout=15)


def sent(fake: FakeServer) -> dict:
    # Only the chat call: the gateway's background model-list refresh (GET /v1/models) may land
    # in the same window on a loaded machine.
    posts = [r for r in fake.requests if r.method == "POST"]
    assert len(posts) == 1
    return posts[0].json()


@pytest.mark.parametrize(("effort", "budget"), [("low", 1024), ("medium", 4096), ("high", 16384)])
def test_reasoning_effort_becomes_thinking_with_room_for_the_answer(gateway, fake, effort, budget) -> None:
    response = post(gateway, fake, reasoning_effort=effort)
    assert response.status_code == 200, response.text
    body = sent(fake)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] > budget


def test_reasoning_effort_budget_fits_under_the_clients_max_tokens(gateway, fake) -> None:
    response = post(gateway, fake, reasoning_effort="high", max_tokens=3000)
    assert response.status_code == 200, response.text
    assert sent(fake)["thinking"]["budget_tokens"] == 2999 and sent(fake)["max_tokens"] == 3000


def test_thinking_without_max_tokens_sets_max_tokens_above_the_budget(gateway, fake) -> None:
    response = post(gateway, fake, thinking={"type": "enabled", "budget_tokens": 8000})
    assert response.status_code == 200, response.text
    assert sent(fake)["max_tokens"] > 8000


def test_reasoning_effort_none_means_no_thinking(gateway, fake) -> None:
    assert post(gateway, fake, reasoning_effort="none").status_code == 200
    assert "thinking" not in sent(fake)


@pytest.mark.parametrize(("extra", "param"), [
    ({"reasoning_effort": "low", "tools": [WEATHER], "tool_choice": "required"}, "tool_choice"),
    ({"reasoning_effort": "low", "tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}, "tool_choice"),
    ({"reasoning_effort": "low", "temperature": 0.2}, "temperature"),
    ({"thinking": {"type": "enabled", "budget_tokens": 2000}, "top_k": 5}, "top_k"),
    ({"thinking": {"type": "enabled", "budget_tokens": 2000}, "top_p": 0.5}, "top_p"),
    ({"thinking": {"type": "enabled", "budget_tokens": 500}}, "thinking.budget_tokens"),
    ({"thinking": {"type": "enabled", "budget_tokens": 2000}, "max_tokens": 1500}, "max_tokens"),
    ({"reasoning_effort": "low", "max_tokens": 800}, "max_tokens"),
    ({"reasoning_effort": "extreme"}, "reasoning_effort"),
])
def test_what_thinking_forbids_is_a_clear_400_before_the_upstream(gateway, fake, extra, param) -> None:
    response = post(gateway, fake, **extra)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert not fake.requests


def test_thinking_with_auto_tool_choice_and_temperature_one_is_fine(gateway, fake) -> None:
    response = post(gateway, fake, reasoning_effort="low", temperature=1, tools=[WEATHER], tool_choice="auto")
    assert response.status_code == 200, response.text


def test_whitespace_only_text_and_stop_sequences_are_left_out(gateway, fake) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "  "}, {"type": "text", "text": "hi"}]},
                {"role": "assistant", "content": "\n"}, {"role": "user", "content": "again"}]
    response = post(gateway, fake, messages=messages, stop=[" ", "END", "\n"])
    assert response.status_code == 200, response.text
    body = sent(fake)
    assert body["stop_sequences"] == ["END"]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "again"}]}]


def test_email_user_is_not_sent_as_user_id(gateway, fake) -> None:
    assert post(gateway, fake, user="jane.doe@example.com").status_code == 200
    assert "metadata" not in sent(fake)
    assert post(gateway, fake, user="u-8f3a").status_code == 200
    assert sent(fake)["metadata"] == {"user_id": "u-8f3a"}


def test_cache_control_is_kept_on_blocks_tools_and_system(gateway, fake) -> None:
    mark = {"type": "ephemeral"}
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Long shared instructions.", "cache_control": mark},
                                       {"type": "text", "text": "Per-call notes."}]},
        {"role": "user", "content": [{"type": "text", "text": "A long document.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
    ]
    tools = [{**WEATHER, "cache_control": mark}]
    response = post(gateway, fake, messages=messages, tools=tools)
    assert response.status_code == 200, response.text
    body = sent(fake)
    assert body["system"] == [{"type": "text", "text": "Long shared instructions.", "cache_control": mark},
                              {"type": "text", "text": "Per-call notes."}]
    assert body["messages"][0]["content"] == [{"type": "text", "text": "A long document.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    assert body["tools"][0]["cache_control"] == mark


def test_system_without_cache_control_stays_one_string(gateway, fake) -> None:
    messages = [{"role": "system", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"role": "user", "content": "hi"}]
    assert post(gateway, fake, messages=messages).status_code == 200
    assert sent(fake)["system"] == "a\nb"
