"""The mock provider honours the request: response_format, a named tool_choice, streamed n > 1.

Driven over HTTP against a real gateway process, then through the structured-output clients
people actually use (instructor, langchain's with_structured_output, the openai SDK's parse): each
of them failed against the mock before it honoured response_format and tool_choice.
"""

from __future__ import annotations

import json
from typing import Literal

import httpx
import jsonschema_rs
import openai
import pytest
from pydantic import BaseModel, Field

from tests.gateway import GatewayProcess

MODEL = "mock/mock-1"


class Address(BaseModel):
    street: str
    city: str
    postcode: str = Field(min_length=4, max_length=8)


class Person(BaseModel):
    name: str
    age: int = Field(ge=18, le=120)
    mood: Literal["happy", "sad"]
    tags: list[str] = Field(min_length=2)
    address: Address
    nickname: str | None = None


@pytest.fixture(scope="module")
def gateway():
    process = GatewayProcess("[providers.mock]\n").start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0, timeout=10)


def post(gateway, body: dict) -> httpx.Response:
    return httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=gateway.auth, timeout=10)


SCHEMAS = [
    Person.model_json_schema(),
    {"type": "object", "properties": {"n": {"type": "integer", "minimum": 5, "exclusiveMaximum": 7, "multipleOf": 3}},
     "required": ["n"], "additionalProperties": False},
    {"type": "array", "items": {"type": "string", "format": "email"}, "minItems": 3, "uniqueItems": True},
    {"anyOf": [{"type": "null"}, {"type": "object", "properties": {"x": {"const": 4}}, "required": ["x"]}]},
    {"$defs": {"node": {"type": "object", "properties": {"value": {"type": "number", "exclusiveMinimum": 0},
                                                         "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}},
                        "required": ["value", "next"]}},
     "$ref": "#/$defs/node"},
    {"type": "object", "allOf": [{"properties": {"a": {"type": "boolean"}}, "required": ["a"]},
                                 {"properties": {"b": {"type": ["string", "null"], "minLength": 12}}, "required": ["b"]}]},
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
def test_json_schema_answer_validates_and_is_deterministic(gateway, schema) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "give me data"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}}}
    first, second = post(gateway, body), post(gateway, body)
    assert first.status_code == 200, first.text
    content = first.json()["choices"][0]["message"]["content"]
    jsonschema_rs.validate(schema, json.loads(content))
    assert second.json()["choices"][0]["message"]["content"] == content


def test_json_object_answer(gateway) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Reply in JSON"}], "response_format": {"type": "json_object"}}
    answer = json.loads(post(gateway, body).json()["choices"][0]["message"]["content"])
    assert isinstance(answer, dict) and "Reply in JSON" in answer["response"]


def test_streamed_json_schema_joins_to_the_same_json(client) -> None:
    schema = Person.model_json_schema()
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}
    whole = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "p"}], response_format=fmt)
    parts = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "p"}], response_format=fmt, stream=True) if c.choices]
    assert len(parts) > 2 and "".join(parts) == whole.choices[0].message.content


def test_named_tool_choice_calls_that_tool_with_valid_arguments(client) -> None:
    weather = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
               "required": ["city", "days"]}
    tools = [{"type": "function", "function": {"name": "first_tool", "parameters": {"type": "object", "properties": {}}}},
             {"type": "function", "function": {"name": "get_weather", "parameters": weather}}]
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "weather?"}], tools=tools,
                                           tool_choice={"type": "function", "function": {"name": "get_weather"}})
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    jsonschema_rs.validate(weather, json.loads(call.function.arguments))
    # Without a named choice the first tool is still the one called.
    auto = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "weather?"}], tools=tools)
    assert auto.choices[0].message.tool_calls[0].function.name == "first_tool"


def test_tool_choice_naming_an_absent_tool_is_a_400(gateway) -> None:
    tools = [{"type": "function", "function": {"name": "a"}}]
    response = post(gateway, {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "tools": tools,
                              "tool_choice": {"type": "function", "function": {"name": "b"}}})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "tool_choice"


def test_streamed_n_greater_than_one_streams_every_choice(client) -> None:
    chunks = list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}], n=3, stream=True))
    texts: dict[int, str] = {}
    finishes: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    expected = "This is a mock response from LLMG. You said: Hi"
    assert texts == {0: expected, 1: expected, 2: expected}
    assert finishes == {0: "stop", 1: "stop", 2: "stop"}


def test_huge_schema_demands_are_refused_not_built(gateway) -> None:
    for schema in ({"type": "array", "items": {"type": "string"}, "minItems": 10**9},
                   {"type": "string", "minLength": 10**9}):
        body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "big", "schema": schema}}}
        response = post(gateway, body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "mock_limit_exceeded"


# --- the structured-output clients --------------------------------------------------------------


def check_person(person: Person) -> None:
    assert isinstance(person, Person)
    assert 18 <= person.age <= 120 and len(person.tags) >= 2 and person.mood in ("happy", "sad")


def test_openai_sdk_parse(client) -> None:
    completion = client.chat.completions.parse(model=MODEL, messages=[{"role": "user", "content": "a person"}],
                                               response_format=Person)
    check_person(completion.choices[0].message.parsed)


def test_instructor(gateway) -> None:
    import instructor

    patched = instructor.from_openai(openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0, timeout=10))
    person = patched.chat.completions.create(model=MODEL, response_model=Person, max_retries=0,
                                             messages=[{"role": "user", "content": "a person"}])
    check_person(person)
    json_mode = instructor.from_openai(openai.OpenAI(base_url=gateway.base_url, api_key=gateway.token, max_retries=0, timeout=10),
                                       mode=instructor.Mode.JSON_SCHEMA)
    check_person(json_mode.chat.completions.create(model=MODEL, response_model=Person, max_retries=0,
                                                   messages=[{"role": "user", "content": "a person"}]))


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_langchain_with_structured_output(gateway, method) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model=MODEL, base_url=gateway.base_url, api_key=gateway.token, max_retries=0, timeout=10)
    check_person(llm.with_structured_output(Person, method=method).invoke("a person"))
