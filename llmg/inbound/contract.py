"""The inbound APIs' part of the OpenAPI contract: /v1/messages*, /v1/responses*, /v1/completions.

Built with ``llmg.contract``'s helpers; the Structs are listed in ``contract.STRUCTS``. Errors on the
Anthropic routes are ``AnthropicErrorResponse`` (the same statuses, Anthropic's shape).
"""

from __future__ import annotations

import copy
from typing import Any

from .. import contract as c
from .anthropic import error_type

_ANTHROPIC_ERROR = {"$ref": c.REF.format(name="AnthropicErrorResponse")}


def _anthropic_errors(*statuses: int) -> dict[str, Any]:
    """The shared error responses, with Anthropic's body shape and error types."""
    out = {}
    for status in statuses:
        response = copy.deepcopy(c._error_response(status))
        message = response["content"]["application/json"]["example"]["error"]["message"]
        response["content"] = {"application/json": {
            "schema": _ANTHROPIC_ERROR,
            "example": {"type": "error", "error": {"type": error_type(status), "message": message}},
        }}
        out[str(status)] = response
    return out


def _event_stream(description: str, names: list[str], example: str) -> dict[str, Any]:
    """An SSE stream of ``event: <name>`` + ``data: <JSON object whose type is the name>``."""
    return {
        "schema": {
            "type": "object",
            "description": description,
            "required": ["data"],
            "properties": {
                "event": {"enum": names},
                "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {
                    "type": "object", "required": ["type"], "properties": {"type": {"enum": names}}}},
            },
        },
        "example": example,
    }


_MESSAGE_EVENTS = ["message_start", "content_block_start", "content_block_delta", "content_block_stop",
                   "message_delta", "message_stop", "ping", "error"]
_RESPONSE_EVENTS = [
    "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
    "response.output_text.delta", "response.output_text.done", "response.content_part.done",
    "response.function_call_arguments.delta", "response.function_call_arguments.done",
    "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
    "response.reasoning_summary_text.done", "response.reasoning_summary_part.done",
    "response.output_item.done", "response.completed", "response.incomplete", "response.failed", "error",
]
_COMPLETION_EVENT = {
    "type": "object",
    "description": "`data: <Completion JSON>` events (object `text_completion`), ending with `data: [DONE]`; "
                   "a failure after the first byte is one `data: <ErrorResponse JSON>` event, then `[DONE]`.",
    "required": ["data"],
    "properties": {"data": {"anyOf": [
        {"type": "string", "contentMediaType": "application/json", "contentSchema": {"$ref": c.REF.format(name="Completion")}},
        {"type": "string", "contentMediaType": "application/json", "contentSchema": {"$ref": c.REF.format(name="ErrorResponse")}},
        {"const": "[DONE]", "description": "The last event of every stream."},
    ]}},
}


def _body(name: str, example: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": c.REF.format(name=name)}, "example": example}}}


def _response_id() -> dict[str, Any]:
    return {"name": "response_id", "in": "path", "required": True, "description": "A response id (`resp_...`).",
            "schema": {"type": "string", "minLength": 1}, "example": "resp_0123"}


def paths() -> dict[str, Any]:
    message_example = {"model": "mock/mock-1", "max_tokens": 256, "messages": [{"role": "user", "content": "Hi"}]}
    headers = {"x-request-id": c._REQUEST_ID_HEADER}
    anthropic_note = (
        " The gateway key may be sent as `x-api-key` (as the Anthropic SDK does) or `Authorization: Bearer`. "
        "Routed to Anthropic the body passes through unchanged but for `model` (so Anthropic-only features "
        "work there); to any other provider it is translated through the chat shape. Every error, the "
        "gateway's 401 included, is Anthropic's `{\"type\":\"error\",\"error\":{\"type\",\"message\"}}`."
    )
    return {
        "/v1/messages": {"post": {
            "operationId": "createMessage",
            "tags": ["anthropic"],
            "summary": "Anthropic Messages, plain or streamed",
            "description": "Anthropic's Messages API in front of every provider. With `stream: true` the answer is "
                           "Anthropic's event stream (message_start, ping, content_block_start/delta/stop, "
                           "message_delta, message_stop; `error` on a failure mid-stream)." + anthropic_note,
            "requestBody": _body("MessagesRequest", message_example),
            "responses": {
                "200": {"description": "The message, or its event stream when `stream` is true.", "headers": headers,
                        "content": {
                            "application/json": {"schema": {"$ref": c.REF.format(name="MessageResponse")}},
                            "text/event-stream": _event_stream(
                                "Anthropic's server-sent events: `event: <type>` and `data: <JSON with that type>`.",
                                _MESSAGE_EVENTS, 'event: message_stop\ndata: {"type":"message_stop"}\n\n'),
                        }},
                **_anthropic_errors(*c._PROXIED),
            },
        }},
        "/v1/messages/count_tokens": {"post": {
            "operationId": "countMessageTokens",
            "tags": ["anthropic"],
            "summary": "Count the input tokens of a Messages request",
            "description": "Exact where the provider counts (Anthropic); elsewhere an estimate: one token per 4 bytes "
                           "of the system, messages and tools JSON, 4 per message, 1600 per image." + anthropic_note,
            "requestBody": _body("CountTokensRequest", {k: v for k, v in message_example.items() if k != "max_tokens"}),
            "responses": {"200": c._ok("CountTokensResponse", "The input token count."), **_anthropic_errors(*c._PROXIED)},
        }},
        "/v1/responses": {"post": {
            "operationId": "createResponse",
            "tags": ["responses"],
            "summary": "OpenAI Responses, plain or streamed",
            "description": (
                "OpenAI's Responses API in front of every provider. To OpenAI itself the body passes through. "
                "Elsewhere it is translated through the chat shape, and the answer is kept (unless `store` is "
                "false) in the gateway's bounded in-memory store for `previous_response_id` and the GET routes. "
                "With `stream: true` the answer is the Responses event stream (`event: <type>` + `data:` with a "
                "`sequence_number`; no `[DONE]`)." + c._JSON_BODY_NOTE
            ),
            "requestBody": _body("ResponsesRequest", {"model": "mock/mock-1", "input": "Hi"}),
            "responses": {
                "200": {"description": "The response, or its event stream when `stream` is true.", "headers": headers,
                        "content": {
                            "application/json": {"schema": {"$ref": c.REF.format(name="ResponseObject")}},
                            "text/event-stream": _event_stream(
                                "The Responses API's server-sent events.", _RESPONSE_EVENTS,
                                'event: response.completed\ndata: {"type":"response.completed","sequence_number":9}\n\n'),
                        }},
                **c._errors(*c._PROXIED),
            },
        }},
        "/v1/responses/{response_id}": {
            "get": {
                "operationId": "getResponse",
                "tags": ["responses"],
                "summary": "A stored response",
                "description": "One the gateway made and stored (in this worker's memory, for an hour at most).",
                "parameters": [_response_id()],
                "responses": {"200": c._ok("ResponseObject", "The response."), **c._errors(404, *c._AUTHED)},
            },
            "delete": {
                "operationId": "deleteResponse",
                "tags": ["responses"],
                "summary": "Delete a stored response",
                "description": "Removes it from the gateway's store.",
                "parameters": [_response_id()],
                "responses": {"200": c._ok("DeletedResponse", "Deleted."), **c._errors(404, *c._AUTHED)},
            },
        },
        "/v1/responses/{response_id}/input_items": {"get": {
            "operationId": "listResponseInputItems",
            "tags": ["responses"],
            "summary": "The input items of a stored response",
            "description": "Paged like OpenAI's: `order` (default desc), `limit` (1-100, default 20), `after` (an item id).",
            "parameters": [
                _response_id(),
                {"name": "order", "in": "query", "required": False, "schema": {"enum": ["asc", "desc"]}},
                {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                {"name": "after", "in": "query", "required": False, "schema": {"type": "string"}},
            ],
            "responses": {"200": c._ok("InputItemList", "The items, one page."), **c._errors(400, 404, *c._AUTHED)},
        }},
        "/v1/completions": {"post": {
            "operationId": "createCompletion",
            "tags": ["completions"],
            "summary": "Legacy text completion, plain or streamed",
            "description": "Passed through to providers that have the endpoint; on the others each prompt becomes one "
                           "user message (`max_tokens` defaults to 16, as in OpenAI's API)." + c._JSON_BODY_NOTE,
            "requestBody": _body("CompletionRequest", {"model": "mock/mock-1", "prompt": "Say hi", "max_tokens": 16}),
            "responses": {
                "200": {"description": "The completion, or an SSE stream when `stream` is true.", "headers": headers,
                        "content": {
                            "application/json": {"schema": {"$ref": c.REF.format(name="Completion")}},
                            "text/event-stream": {"schema": _COMPLETION_EVENT},
                        }},
                **c._errors(*c._PROXIED),
            },
        }},
    }
