"""Our Responses and Completions answers validate against OpenAI's own published schemas.

The spec is the reference copy in ../shared/reference/openai-openapi/ (skipped where it is absent).
Every answer and every stream event the gateway builds itself (the translated path, here on the mock)
is checked against the matching component: Response, ResponseStreamEvent, ResponseItemList,
CreateCompletionResponse.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema_rs
import pytest
import yaml

from tests.gateway import GatewayProcess

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = [ROOT.parent / "shared", ROOT.parent.parent / "shared", Path("/work/shared")]
SPEC = next((p / "reference/openai-openapi/openapi.yaml" for p in CANDIDATES
             if (p / "reference/openai-openapi/openapi.yaml").exists()), None)
TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}

pytestmark = pytest.mark.skipif(SPEC is None, reason="OpenAI's spec (shared/reference/openai-openapi) is not here")


@pytest.fixture(scope="module")
def components() -> dict:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document = yaml.load(SPEC.read_text(encoding="utf-8"), Loader=loader)  # type: ignore[union-attr]
    return json.loads(json.dumps(document["components"], default=str))  # YAML dates -> strings


def event_components(components: dict) -> dict[str, str]:
    """event type -> the ResponseStreamEvent member that describes it (a clearer error than the union's)."""
    union = components["schemas"]["ResponseStreamEvent"]
    members = [m["$ref"].rsplit("/", 1)[1] for m in union.get("anyOf") or union.get("oneOf")]
    return {components["schemas"][name]["properties"]["type"]["enum"][0]: name for name in members}


def check(components: dict, name: str, instance: object) -> None:
    validator = jsonschema_rs.Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": components})
    errors = [f"{list(e.instance_path)}: {e.message[:300]}" for e in validator.iter_errors(instance)]
    assert not errors, (name, errors)


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    process = GatewayProcess("[providers.mock]\n").start()
    yield process
    process.stop()


def post(gateway: GatewayProcess, path: str, body: dict) -> dict:
    response = httpx.post(f"{gateway.url}{path}", json=body, headers=gateway.auth, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def events(gateway: GatewayProcess, path: str, body: dict) -> list[dict]:
    with httpx.stream("POST", f"{gateway.url}{path}", json={**body, "stream": True}, headers=gateway.auth, timeout=10) as r:
        assert r.status_code == 200
        return [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ") and line != "data: [DONE]"]


@pytest.mark.parametrize("body", [
    {"input": "Hello", "instructions": "Be brief.", "user": "u1", "max_output_tokens": 100},
    {"input": "Weather?", "tools": [TOOL], "tool_choice": "auto"},
    {"input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
     "text": {"format": {"type": "json_schema", "name": "a", "schema": {"type": "object"}}}, "reasoning": {"effort": "low"}},
], ids=["text", "function-call", "options"])
def test_responses(gateway, components, body) -> None:
    body = {"model": "mock/mock-1", **body}
    answer = post(gateway, "/v1/responses", body)
    check(components, "Response", answer)
    stored = httpx.get(f"{gateway.url}/v1/responses/{answer['id']}/input_items", headers=gateway.auth).json()
    check(components, "ResponseItemList", stored)
    streamed = events(gateway, "/v1/responses", body)
    assert streamed[-1]["type"] == "response.completed"
    kinds = event_components(components)
    for event in streamed:
        check(components, kinds[event["type"]], event)  # the one member of ResponseStreamEvent for this type


def test_completions(gateway, components) -> None:
    body = {"model": "mock/mock-1", "prompt": ["a", "b"], "max_tokens": 3}
    check(components, "CreateCompletionResponse", post(gateway, "/v1/completions", body))
    for event in events(gateway, "/v1/completions", {**body, "stream_options": {"include_usage": True}}):
        # The schema describes the complete answer; OpenAI's own stream chunks carry finish_reason null
        # until the last one, and so do ours.
        for choice in event["choices"]:
            choice["finish_reason"] = choice["finish_reason"] or "stop"
        check(components, "CreateCompletionResponse", event)


def test_reasoning_and_parallel_tool_call_events(components) -> None:
    """The events the mock cannot produce (reasoning summaries, two calls), straight from the translator."""
    import msgspec

    from llmg.inbound.responses import StreamTranslator
    from llmg.schemas.responses import ResponsesRequest
    from tests.unit.test_inbound import STREAM

    translator = StreamTranslator(msgspec.convert({"model": "p/m", "input": "x"}, ResponsesRequest), "resp_1")
    out = translator.start() + [b for chunk in STREAM for b in translator.feed(chunk)] + translator.end()
    kinds = event_components(components)
    seen = set()
    for raw in b"".join(out).split(b"\n\n"):
        if raw:
            event = json.loads(raw.split(b"\ndata: ", 1)[1])
            seen.add(event["type"])
            check(components, kinds[event["type"]], event)
    assert {"response.reasoning_summary_text.delta", "response.function_call_arguments.done"} <= seen
