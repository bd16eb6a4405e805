"""Claude's extended-thinking rules on Bedrock (issue 16 item 11, carried over to Bedrock).

Converse hands ``additionalModelRequestFields.thinking`` to the Claude model, which refuses a forced
tool choice, temperature != 1 and a budget below 1024 with thinking on, exactly as Anthropic's API
does. The fake (tests/fakes/bedrock_upstream.py) now refuses them as Bedrock does (a
ValidationException "The model returned the following errors: ..."); the gateway answers a 400
naming the conflict before sending, with the Anthropic adapter's own rule code (claude_thinking).
Before this, main's adapter sent all three, and its fake accepted them.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.providers.test_bedrock import WEATHER, client, fake, gateway, last_body  # noqa: F401  (fixtures)
from tests.providers.test_bedrock_fidelity import SONNET, _signed_post

ASK = [{"role": "user", "content": "weather in Paris?"}]
THINKING = {"type": "enabled", "budget_tokens": 2048}
TURN = [{"role": "user", "content": [{"text": "hi"}]}]
TOOLS = [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}]


@pytest.mark.parametrize("body,says", [
    ({"toolConfig": {"tools": TOOLS, "toolChoice": {"any": {}}}, "additionalModelRequestFields": {"thinking": THINKING}},
     "Thinking may not be enabled when tool_choice forces tool use."),
    ({"toolConfig": {"tools": TOOLS, "toolChoice": {"tool": {"name": "f"}}}, "additionalModelRequestFields": {"thinking": THINKING}},
     "Thinking may not be enabled when tool_choice forces tool use."),
    ({"inferenceConfig": {"maxTokens": 4096, "temperature": 0.2}, "additionalModelRequestFields": {"thinking": THINKING}},
     "`temperature` may only be set to 1 when thinking is enabled."),
    ({"additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 512}}},
     "budget_tokens: Input should be greater than or equal to 1024"),
])
def test_fake_refuses_what_claude_on_bedrock_refuses(fake, body, says) -> None:  # noqa: F811
    answer = _signed_post(fake, SONNET, {"messages": TURN, **body})
    assert answer.status_code == 400 and answer.headers["x-amzn-ErrorType"].startswith("ValidationException:")
    assert answer.json()["message"].startswith("The model returned the following errors: ")
    assert says in answer.json()["message"]
    # The same request without thinking is fine, and other model families do not apply Claude's rules.
    plain = {k: v for k, v in body.items() if k != "additionalModelRequestFields"}
    assert _signed_post(fake, SONNET, {"messages": TURN, **plain}).status_code == 200
    assert _signed_post(fake, "us.amazon.nova-pro-v1:0", {"messages": TURN, **plain}).status_code == 200


def _refused(client, **extra: Any) -> openai.BadRequestError:  # noqa: F811
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=f"bedrock/{SONNET}", messages=ASK, **extra)
    return info.value


CONFLICTS = [
    ({"tools": [WEATHER], "tool_choice": "required", "reasoning_effort": "medium"}, "tool_choice", "cannot force a tool call"),
    ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
      "extra_body": {"thinking": THINKING}}, "tool_choice", "cannot force a tool call"),
    ({"temperature": 0.3, "reasoning_effort": "low"}, "temperature", "temperature must be 1"),
    ({"top_p": 0.5, "extra_body": {"thinking": THINKING}}, "top_p", "top_p must be at least 0.95"),
    ({"extra_body": {"thinking": {"type": "enabled", "budget_tokens": 100}}}, "thinking.budget_tokens", "at least 1024"),
    ({"max_tokens": 2000, "extra_body": {"thinking": THINKING}}, "max_tokens", "greater than thinking.budget_tokens"),
]


def test_conflicts_with_thinking_are_a_400_and_valid_requests_reach_claude(client, fake) -> None:  # noqa: F811
    for extra, param, words in CONFLICTS:
        fake.clear()
        error = _refused(client, **extra)
        assert error.status_code == 400 and error.body["param"] == param and words in error.message, (extra, error.message)
        assert "bedrock" in error.message or param in ("thinking.budget_tokens", "max_tokens")
        assert fake.requests == []  # refused before it reached Bedrock
    # What the rules allow is sent, and the strict fake takes it: auto tool choice, temperature 1,
    # a budget under maxTokens (set above the budget when the client gave none).
    fake.clear()
    reply = client.chat.completions.create(model=f"bedrock/{SONNET}", messages=ASK, tools=[WEATHER], tool_choice="auto",
                                           temperature=1, reasoning_effort="low")
    assert reply.choices[0].finish_reason == "tool_calls"
    body = last_body(fake)
    assert body["additionalModelRequestFields"]["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert body["inferenceConfig"]["maxTokens"] > 1024 and body["toolConfig"]["toolChoice"] == {"auto": {}}
    # Without thinking, a forced choice and any temperature still go through.
    reply = client.chat.completions.create(model=f"bedrock/{SONNET}", messages=ASK, tools=[WEATHER], tool_choice="required",
                                           temperature=0.2)
    assert reply.choices[0].finish_reason == "tool_calls"
    assert last_body(fake)["toolConfig"]["toolChoice"] == {"any": {}}
