"""The gateway's HTTP contract as an OpenAPI 3.1 document, generated from the code.

Every schema comes from the msgspec Structs (``llmg.schemas.openai`` and the error envelope in
``llmg.errors``) through ``msgspec.json.schema_components``, so the contract cannot drift from what
the gateway validates and produces. Routes, statuses, headers, security and prose are written here.

A few request properties need more than a Struct can say (the ``provider/model`` shape the router
enforces; the "one element kind per array" rule of embeddings ``input``, checked in
``__post_init__``). Those are ``_REFINEMENTS``: each names the schema msgspec must still generate
for that property, so a changed Struct stops generation instead of being silently papered over.

``llmg contract`` writes ``contracts/openapi.yaml``; ``tests/contract/test_drift.py`` fails when the
committed file is not what this module builds; ``GET /openapi.json`` serves the same document.
"""

from __future__ import annotations

import copy
import sys
from functools import cache
from pathlib import Path
from typing import Any

import msgspec

from . import __version__
from .errors import ErrorResponse
from .schemas import anthropic as anthropic_api
from .schemas import completions as completions_api
from .schemas import keys as key_schemas
from .schemas import openai as api
from .schemas import responses as responses_api

REF = "#/components/schemas/{name}"

# The Structs whose schemas the contract publishes (their nested Structs come along).
STRUCTS: tuple[type, ...] = (
    api.ChatCompletionRequest,
    api.ChatCompletion,
    api.ChatCompletionChunk,
    api.EmbeddingsRequest,
    api.EmbeddingsResponse,
    api.ModelList,
    api.Model,
    api.Health,
    key_schemas.KeyInfo,
    api.Readiness,
    ErrorResponse,
    # --- inbound APIs (paths in llmg/inbound/contract.py)
    anthropic_api.MessagesRequest,
    anthropic_api.MessageResponse,
    anthropic_api.CountTokensRequest,
    anthropic_api.CountTokensResponse,
    anthropic_api.AnthropicErrorResponse,
    responses_api.ResponsesRequest,
    responses_api.ResponseObject,
    responses_api.InputItemList,
    responses_api.DeletedResponse,
    completions_api.CompletionRequest,
    completions_api.Completion,
)


class ContractError(Exception):
    """The Structs changed in a way the hand-written refinements no longer fit."""


# --- refinements of generated property schemas ---------------------------------------------------

# llmg.routing: "provider/model", split at the first "/"; each segment starts with a letter or digit,
# then letters, digits and . _ : @ + - (never two dots in a row). This is the same language as the
# router's check, written without look-ahead so every JSON Schema engine reads it the same way.
_SEGMENT = r"[A-Za-z0-9](?:\.?[A-Za-z0-9_:@+-])*\.?"
MODEL_PATTERN = rf"^{_SEGMENT}(?:/{_SEGMENT})+$"

_MODEL = {
    "type": "string",
    "minLength": 1,
    "pattern": MODEL_PATTERN,
    "description": (
        "`provider/model`: the part before the first `/` names a registered provider, the rest is "
        "the provider's own model id (`openrouter/openai/gpt-4o` sends `openai/gpt-4o` to openrouter). "
        "A configured alias from `[aliases]` or group from `[groups]` is accepted too (a group answers "
        "with `x-llmg-deployment` and `x-llmg-attempts` headers). An unknown or unregistered provider "
        "gets 404 `Unknown provider: NAME`; a model id outside this pattern gets 400."
    ),
    "examples": ["mock/mock-1", "openai/gpt-4o-mini"],
}

_EMBEDDING_INPUT_GENERATED = {
    "anyOf": [
        {"type": "string", "minLength": 1},
        {
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]},
            "minItems": 1,
            "maxItems": 2048,
        },
    ]
}


def _array_of(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items, "minItems": 1, "maxItems": 2048}


_EMBEDDING_INPUT = {
    "description": "A string, or an array of strings, of token ids, or of token-id arrays (one kind per array).",
    "anyOf": [
        {"type": "string", "minLength": 1},
        _array_of({"type": "string"}),
        _array_of({"type": "integer"}),
        _array_of({"type": "array", "items": {"type": "integer"}}),
    ],
}

# (component, property) -> (the schema msgspec must generate, what the contract says instead)
_REFINEMENTS: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {
    ("ChatCompletionRequest", "model"): ({"type": "string", "minLength": 1}, _MODEL),
    ("EmbeddingsRequest", "model"): ({"type": "string", "minLength": 1}, _MODEL),
    ("EmbeddingsRequest", "input"): (_EMBEDDING_INPUT_GENERATED, _EMBEDDING_INPUT),
    # --- inbound APIs
    ("MessagesRequest", "model"): ({"type": "string", "minLength": 1}, _MODEL),
    ("CountTokensRequest", "model"): ({"type": "string", "minLength": 1}, _MODEL),
    ("ResponsesRequest", "model"): ({"type": "string", "minLength": 1}, _MODEL),
    ("CompletionRequest", "model"): ({"type": "string", "minLength": 1}, _MODEL),
}

_DESCRIPTIONS = {
    "ChatCompletion": "A complete chat answer (`stream` absent or false).",
    "ChatCompletionChunk": (
        "One `data:` event of a streamed chat answer. The stream ends with `data: [DONE]`; a failure "
        "after the first byte arrives as one `data:` event carrying an ErrorResponse, then `[DONE]`."
    ),
    "ErrorResponse": "Every error the gateway returns, whatever the status.",
    "ErrorBody": (
        "`type` is one of invalid_request_error, authentication_error, provider_error, rate_limit_error, "
        "timeout_error, not_supported, internal_error. `param` names the offending request field when there is one."
    ),
    "ModelList": "The registered providers' models as `provider/model` ids.",
    "Health": "Liveness: the version and how many providers are registered.",
}


def schemas() -> dict[str, Any]:
    """The components/schemas section: msgspec's output plus the refinements above."""
    _, components = msgspec.json.schema_components(STRUCTS, ref_template=REF)
    components = copy.deepcopy(components)
    for (name, prop), (generated, refined) in _REFINEMENTS.items():
        actual = components.get(name, {}).get("properties", {}).get(prop)
        if actual != generated:
            raise ContractError(
                f"{name}.{prop}: the Struct now generates {actual!r}; update the refinement in llmg/contract.py"
            )
        components[name]["properties"][prop] = refined
    for name, text in _DESCRIPTIONS.items():
        components[name].setdefault("description", text)
    return dict(sorted(components.items()))


# --- responses ---------------------------------------------------------------------------------

_REQUEST_ID_HEADER = {"$ref": "#/components/headers/RequestId"}

HEADERS = {
    "RequestId": {
        "description": (
            "Set on every response: the client's own `x-request-id` when it is 1-128 characters of "
            "letters, digits and `-_.:`, else a new random id."
        ),
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 128},
    },
}

PARAMETERS = {
    "RequestId": {
        "name": "x-request-id",
        "in": "header",
        "required": False,
        "description": (
            "Your own id for this request, echoed in the response's `x-request-id` when it is 1-128 characters "
            "of letters, digits and `-_.:`; anything else is replaced by a new id (never rejected)."
        ),
        "schema": {"type": "string"},
    },
}
_REQUEST_ID_PARAM = {"$ref": "#/components/parameters/RequestId"}

# status -> (component name, description, example message, example type, example code)
_ERRORS: dict[int, tuple[str, str, str, str, str | None]] = {
    400: ("BadRequest", "The body is not valid JSON, not an object, or a field has the wrong type or value "
          "(`param` names it); or the model is not `provider/model`.",
          "Invalid request: Expected `bool | null`, got `int` (at 'stream')", "invalid_request_error", "invalid_type"),
    401: ("Unauthorized", "No `Authorization: Bearer <token>` header, or a token the gateway does not accept; "
          "or the provider refused the gateway's key (`type` provider_error, \"Authentication failed\").",
          "Invalid authentication", "authentication_error", None),
    404: ("NotFound", "Unknown route, unknown or unregistered provider, or unknown model id.",
          "Unknown provider: nosuch", "invalid_request_error", "unknown_provider"),
    405: ("MethodNotAllowed", "This path does not serve the request's method; `Allow` lists the ones it does.",
          "Method not allowed", "invalid_request_error", "method_not_allowed"),
    413: ("PayloadTooLarge", "The body is over `server.max_body_bytes`; refused before it is read.",
          "Request body too large", "invalid_request_error", "body_too_large"),
    415: ("UnsupportedMediaType", "The request's Content-Type is not `application/json`.",
          "Content-Type must be application/json", "invalid_request_error", "unsupported_media_type"),
    # One entry per status (a second 403 key silently replaced the first): both refusals are here.
    403: ("Forbidden", "The gateway key may not use this model (`[keys.NAME] models`; code `model_not_allowed`); "
          "or the `Host` header is not one this gateway serves (loopback binds: localhost, 127.0.0.1, [::1] "
          "and `server.allowed_hosts`; code `host_not_allowed`): the DNS-rebinding guard.",
          "Key 'team-a' may not use model 'openai/gpt-4o'", "permission_error", "model_not_allowed"),
    429: ("RateLimited", "The key's or the gateway's own limit (`[keys.NAME]` rpm / tpm / max_parallel, "
          "`[limits] global_rpm`) was reached, or the provider rate-limited the request; `Retry-After` says "
          "when to try again. Answers of a limited key carry OpenAI's `x-ratelimit-*` headers.",
          "openai: Rate limit reached", "rate_limit_error", "rate_limit_exceeded"),
    431: ("HeaderTooLarge", "The request's headers are over the server's limit.",
          "Request header fields too large", "invalid_request_error", "header_too_large"),
    500: ("InternalError", "An unexpected failure inside the gateway (never with a traceback).",
          "Internal server error", "internal_error", None),
    501: ("NotSupported", "The provider has no such operation (for example embeddings on a chat-only provider).",
          "anthropic does not support embeddings", "not_supported", "not_supported"),
    502: ("BadGateway", "The provider failed (5xx) or could not be reached.",
          "openai: upstream error (HTTP 503)", "provider_error", "upstream_error"),
    503: ("ServiceUnavailable", "The gateway is not ready (starting or draining) or is shutting down and ended the request; "
          "or it is overloaded (`overloaded`, with Retry-After); or the limits backend (Redis) is down and "
          "`[limits] on_backend_error = \"closed\"` (`limits_unavailable`); or a routing group has no deployment left.",
          "Not ready: draining (shutting down)", "service_unavailable", "not_ready"),
    504: ("GatewayTimeout", "The provider did not answer within its timeout.",
          "openai: upstream timed out", "timeout_error", "upstream_timeout"),
}


def _error_response(status: int) -> dict[str, Any]:
    _, description, message, type_, code = _ERRORS[status]
    headers: dict[str, Any] = {"x-request-id": _REQUEST_ID_HEADER}
    if status == 401:
        headers["www-authenticate"] = {"description": "`Bearer` when the gateway refused the client's token.",
                                       "schema": {"type": "string"}}
    if status == 405:
        headers["allow"] = {"description": "The methods this path serves.", "required": True, "schema": {"type": "string"}}
    if status in (429, 503):
        headers["retry-after"] = {"description": "Seconds to wait (the provider's own value when it set one).",
                                  "schema": {"type": "string"}}
    example = {"error": {"message": message, "type": type_, "param": "stream" if status == 400 else None, "code": code}}
    return {
        "description": description,
        "headers": headers,
        "content": {"application/json": {"schema": {"$ref": REF.format(name="ErrorResponse")}, "example": example}},
    }


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): {"$ref": f"#/components/responses/{_ERRORS[status][0]}"} for status in statuses}


def _ok(name: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"x-request-id": _REQUEST_ID_HEADER},
        "content": {"application/json": {"schema": {"$ref": REF.format(name=name)}}},
    }


# Every route can meet these: a Host it does not serve, wrong method, oversized headers, an internal failure.
_ANY = (403, 405, 431, 500)
# Every route behind gateway auth adds 401.
_AUTHED = (401, *_ANY)
# Every JSON POST that goes to a provider.
_PROXIED = (400, 401, 403, 404, 405, 413, 415, 429, 431, 500, 501, 502, 503, 504)

_JSON_BODY_NOTE = (
    " Fields not listed in the schema are accepted and passed to the provider untouched; listed ones are "
    "type-checked. `Content-Type` must be `application/json`."
)


# One event of a streamed chat answer (OpenAPI before 3.2 describes an event stream by the schema of
# one event: its `data` field, and what that field's text holds once parsed as JSON).
_SSE_EVENT = {
    "type": "object",
    "description": (
        "Server-sent events: `data: <ChatCompletionChunk JSON>` events, ending with `data: [DONE]`. A failure "
        "after the first byte is sent as one `data: <ErrorResponse JSON>` event, then `data: [DONE]`."
    ),
    "required": ["data"],
    "properties": {
        "data": {
            "anyOf": [
                {"type": "string", "contentMediaType": "application/json",
                 "contentSchema": {"$ref": REF.format(name="ChatCompletionChunk")}},
                {"type": "string", "contentMediaType": "application/json",
                 "contentSchema": {"$ref": REF.format(name="ErrorResponse")}},
                {"const": "[DONE]", "description": "The last event of every stream."},
            ]
        },
    },
}
_SSE_EXAMPLE = (
    'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":0,"model":"mock-1",'
    '"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\ndata: [DONE]\n\n'
)


def _paths() -> dict[str, Any]:
    chat_example = {"model": "mock/mock-1", "messages": [{"role": "user", "content": "Hi"}]}
    return {
        "/health": {
            "get": {
                "operationId": "health",
                "tags": ["gateway"],
                "summary": "Liveness check",
                "description": "The only route without gateway auth.",
                "security": [],
                "responses": {"200": _ok("Health", "The gateway is up."), **_errors(*_ANY)},
            }
        },
        "/health/ready": {
            "get": {
                "operationId": "ready",
                "tags": ["gateway"],
                "summary": "Readiness check",
                "description": "No gateway auth, like `/health`. 200 once the upstream transport is open and the "
                "config is loaded; 503 while starting and from the first moment of a drain (SIGTERM).",
                "security": [],
                "responses": {"200": _ok("Readiness", "The worker takes traffic."), **_errors(503, *_ANY)},
            }
        },
        "/v1/models": {
            "get": {
                "operationId": "listModels",
                "tags": ["models"],
                "summary": "List the models of every registered provider",
                "description": "Served from memory; refreshed from the providers in the background.",
                "responses": {"200": _ok("ModelList", "OpenAI list object of `provider/model` ids."), **_errors(*_AUTHED)},
            }
        },
        "/v1/models/{model_id}": {
            "get": {
                "operationId": "getModel",
                "tags": ["models"],
                "summary": "One model by its `provider/model` id",
                "description": "The id's `/` may be sent as is (`/v1/models/mock/mock-1`) or encoded as `%2F`.",
                "parameters": [
                    {
                        "name": "model_id",
                        "in": "path",
                        "required": True,
                        "description": "A `provider/model` id as listed by `GET /v1/models`.",
                        "schema": {"type": "string", "minLength": 1},
                        "example": "mock/mock-1",
                    }
                ],
                "responses": {"200": _ok("Model", "The model."), **_errors(404, *_AUTHED)},
            }
        },
        "/v1/chat/completions": {
            "post": {
                "operationId": "createChatCompletion",
                "tags": ["chat"],
                "summary": "Chat completion, plain or streamed",
                "description": (
                    "OpenAI's chat completions API in front of every provider. With `stream: true` the answer "
                    "is `text/event-stream`: `data: <ChatCompletionChunk>` events, then `data: [DONE]`. "
                    "Errors found before the first byte (bad request, provider refused) are ordinary error "
                    "responses; a failure mid-stream is one `data:` event with an ErrorResponse, then `[DONE]`."
                    + _JSON_BODY_NOTE
                ),
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {
                        "schema": {"$ref": REF.format(name="ChatCompletionRequest")},
                        "example": chat_example,
                    }},
                },
                "responses": {
                    "200": {
                        "description": "The answer: one JSON object, or an SSE stream when `stream` is true.",
                        "headers": {"x-request-id": _REQUEST_ID_HEADER},
                        "content": {
                            "application/json": {"schema": {"$ref": REF.format(name="ChatCompletion")}},
                            "text/event-stream": {"schema": _SSE_EVENT, "example": _SSE_EXAMPLE},
                        },
                    },
                    **_errors(*_PROXIED),
                },
            }
        },
        "/v1/embeddings": {
            "post": {
                "operationId": "createEmbeddings",
                "tags": ["embeddings"],
                "summary": "Embeddings",
                "description": "OpenAI's embeddings API in front of every provider that has one." + _JSON_BODY_NOTE,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {
                        "schema": {"$ref": REF.format(name="EmbeddingsRequest")},
                        "example": {"model": "mock/mock-embed", "input": "Hello"},
                    }},
                },
                "responses": {"200": _ok("EmbeddingsResponse", "One vector per input."), **_errors(*_PROXIED)},
            }
        },
        "/v1/key": {
            "get": {
                "operationId": "getKey",
                "tags": ["gateway"],
                "summary": "The calling gateway key: its name, limits and current usage",
                "description": (
                    "`name` is the key's `[keys.NAME]` (null for a plain `[server.auth]` key or any token); "
                    "`usage` counts the last 60 s, across every worker and instance when the limits backend is Redis."
                ),
                "responses": {"200": _ok("KeyInfo", "The key's own view of itself; never the key."), **_errors(*_AUTHED)},
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "getContract",
                "tags": ["gateway"],
                "summary": "This document",
                "description": "For schemathesis and client generators pointed at a running gateway.",
                "responses": {
                    "200": {
                        "description": "The OpenAPI 3.1 document.",
                        "headers": {"x-request-id": _REQUEST_ID_HEADER},
                        "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}},
                    },
                    **_errors(*_AUTHED),
                },
            }
        },
    }


def _all_paths() -> dict[str, Any]:
    from .inbound.contract import paths as inbound_paths  # imports this module's helpers

    return {**_paths(), **inbound_paths()}


def _with_request_id(paths: dict[str, Any]) -> dict[str, Any]:
    """Every operation accepts the optional `x-request-id` request header (listed before its responses)."""
    for item in paths.values():
        for operation in item.values():
            responses = operation.pop("responses")
            operation["parameters"] = [*operation.get("parameters", []), _REQUEST_ID_PARAM]
            operation["responses"] = responses
    return paths


@cache
def build() -> dict[str, Any]:
    """The whole document, built once per process."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "LLMG",
            "version": __version__,
            "summary": "An OpenAI-compatible gateway in front of every major LLM provider.",
            "description": (
                "Clients speak OpenAI's API with `model: \"provider/model\"`. Every route but `/health` needs "
                "`Authorization: Bearer <token>` (which tokens are accepted is `[server.auth]` in llmg.toml). "
                "Every error, whatever its status, is the envelope `{\"error\": {\"message\", \"type\", "
                "\"param\", \"code\"}}`, and every response carries `x-request-id`.\n\n"
                "Generated by `llmg contract` from the gateway's msgspec Structs; do not edit by hand."
            ),
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "tags": [
            {"name": "chat", "description": "Chat completions."},
            {"name": "embeddings", "description": "Embeddings."},
            {"name": "models", "description": "The models the registered providers serve."},
            {"name": "gateway", "description": "The gateway itself."},
            {"name": "anthropic", "description": "Anthropic's Messages API, on any provider."},
            {"name": "responses", "description": "OpenAI's Responses API, on any provider."},
            {"name": "completions", "description": "OpenAI's legacy completions API, on any provider."},
        ],
        "security": [{"bearerAuth": []}],
        "paths": _with_request_id(_all_paths()),
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A gateway token (not a provider key): any token, or one of `[server.auth].keys`.",
                }
            },
            "headers": HEADERS,
            "parameters": PARAMETERS,
            "responses": {name: _error_response(status) for status, (name, *_) in sorted(_ERRORS.items())},
            "schemas": schemas(),
        },
    }


def to_json(document: dict[str, Any] | None = None) -> bytes:
    return msgspec.json.encode(document if document is not None else build())


def to_yaml(document: dict[str, Any] | None = None) -> str:
    import yaml  # only the `llmg contract` command needs it

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:  # shared sub-dicts are written out, not as &anchors
            return True

    return yaml.dump(
        document if document is not None else build(),
        Dumper=Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )


DEFAULT_PATH = "contracts/openapi.yaml"


def command(args: Any) -> int:
    """``llmg contract [--output PATH] [--check]`` (wired in llmg.cli)."""
    text = to_yaml()
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    path = Path(args.output)
    if args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            print(f"{path} is out of date: run `llmg contract` (or ./dev contract) and commit it", file=sys.stderr)
            return 1
        print(f"{path} matches the code")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path} ({len(build()['paths'])} paths, {len(build()['components']['schemas'])} schemas)")
    return 0
