"""Requests drawn from OpenAI's own OpenAPI spec are accepted and reach an OpenAI-compatible
upstream byte for byte, with only ``model`` rewritten.

The spec is ../shared/reference/openai-openapi/openapi.yaml (the bodies of ``POST /chat/completions``
that schemathesis generates from it, in positive mode). The gateway validates only what it needs, so
every such body must pass; the fake upstream records the bytes it received. One rule the real API
enforces and the spec does not state is kept: ``max_tokens`` / ``max_completion_tokens`` >= 1
(the gateway's too), so drawn values below 1 are raised to 1 before sending. Likewise a tool's name
(the spec's prose: 1-64 letters, digits, ``_`` or ``-``; the gateway requires it non-empty): an
empty drawn name becomes ``f``.

Hand-written bodies for the features the spec added last (custom tools, ``allowed_tools`` and
``custom`` tool choices, custom tool calls in the history) run every time, whatever is drawn.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.fakes import openai_upstream
from tests.fakes.server import FakeServer
from tests.gateway import GatewayProcess

# ../shared/reference from the checkout (main sits one level above it, a worktree two).
SPEC = next((parent / "shared/reference/openai-openapi/openapi.yaml" for parent in Path(__file__).resolve().parents
             if (parent / "shared/reference/openai-openapi/openapi.yaml").exists()), None)
pytestmark = pytest.mark.skipif(SPEC is None, reason="OpenAI's spec (../shared/reference/openai-openapi) is not here")
KEY = "sk-spec-openai"
ROUTED = "openai/gpt-4o"
EXAMPLES = 25  # 0.2-2 s each to draw from the spec on a shared machine

CUSTOM_TOOL = {"type": "custom", "custom": {"name": "code_exec", "description": "Runs Python",
                                             "format": {"type": "grammar", "grammar": {"syntax": "lark",
                                                                                       "definition": "start: /.+/"}}}}
FUNCTION_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
HANDWRITTEN = {
    "custom tool": {"tools": [CUSTOM_TOOL]},
    "custom tool_choice": {"tools": [CUSTOM_TOOL], "tool_choice": {"type": "custom", "custom": {"name": "code_exec"}}},
    "allowed_tools": {"tools": [FUNCTION_TOOL, CUSTOM_TOOL], "tool_choice": {
        "type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [
            {"type": "function", "function": {"name": "get_weather"}}, {"type": "custom", "custom": {"name": "code_exec"}}]}}},
    "custom call in history": {"tools": [CUSTOM_TOOL], "messages": [
        {"role": "user", "content": "run it"},
        {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "custom",
                                              "custom": {"name": "code_exec", "input": "print(1)"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "1"}]},
    "spec-only fields": {"verbosity": "low", "prompt_cache_key": "k", "safety_identifier": "u-1",
                         "prediction": {"type": "content", "content": "x"}, "web_search_options": {},
                         "messages": [{"role": "user", "content": [
                             {"type": "file", "file": {"file_id": "file-1"}, "text": 3}]}]},
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeServer]:
    server = openai_upstream.start(KEY)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(fake: FakeServer) -> Iterator[GatewayProcess]:
    process = GatewayProcess(f'[providers.openai]\napi_key = "{KEY}"\nbase_url = "{fake.url}/v1"\ntimeout = 20\n').start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def drawn_bodies() -> st.SearchStrategy[Any]:
    assert SPEC is not None
    spec = yaml.load(SPEC.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    spec["paths"] = {"/chat/completions": {"post": spec["paths"]["/chat/completions"]["post"]}}
    operation = schemathesis.openapi.from_dict(spec)["/chat/completions"]["POST"]
    return operation.as_strategy(generation_mode=GenerationMode.POSITIVE).map(lambda case: case.body)


def prepare(body: dict[str, Any]) -> bytes:
    body = dict(body, model=ROUTED)
    for field in ("max_tokens", "max_completion_tokens"):
        if isinstance(body.get(field), int) and body[field] < 1:
            body[field] = 1
    tools = body.get("tools")
    if isinstance(tools, list):
        body["tools"] = [_named(tool) for tool in tools]
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _named(tool: Any) -> Any:
    """The tool with an empty function/custom name replaced by "f" (see the module docstring)."""
    if not isinstance(tool, dict):
        return tool
    for kind in ("function", "custom"):
        inner = tool.get(kind)
        if isinstance(inner, dict) and inner.get("name") == "":
            tool = {**tool, kind: {**inner, "name": "f"}}
    return tool


def assert_forwarded_faithfully(gateway: GatewayProcess, fake: FakeServer, raw: bytes) -> None:
    fake.clear()
    with httpx.Client(timeout=30) as client:
        response = client.post(f"{gateway.url}/v1/chat/completions", content=raw,
                               headers={**gateway.auth, "content-type": "application/json"})
    assert response.status_code == 200, (response.text, raw[:2000])
    chats = [r for r in fake.requests if r.path == "/v1/chat/completions"]  # not the model directory's GET /v1/models
    assert len(chats) == 1
    received = chats[0].body
    if raw.count(b'"model"') == 1:  # the gateway splices the id into the client's own bytes
        assert received == raw.replace(b'"model":"openai/gpt-4o"', b'"model":"gpt-4o"', 1)
    else:  # a nested "model" key: re-encoded, so same JSON, only the top-level model changed
        assert json.loads(received) == dict(json.loads(raw), model="gpt-4o")


@pytest.mark.parametrize("name", list(HANDWRITTEN))
def test_newest_spec_features_pass_through(gateway, fake, name) -> None:
    body = {"model": ROUTED, "messages": [{"role": "user", "content": "hi"}], **HANDWRITTEN[name]}
    assert_forwarded_faithfully(gateway, fake, prepare(body))


@pytest.mark.timeout(900)  # drawing from a 3 MB spec is slow on a loaded machine; the bound is generous
@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_requests_drawn_from_openai_spec_reach_upstream_unchanged(gateway, fake, drawn_bodies, data) -> None:
    assert_forwarded_faithfully(gateway, fake, prepare(data.draw(drawn_bodies)))
