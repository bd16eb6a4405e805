"""A fake Cohere API v2 (``/v2/chat``, ``/v2/embed``) speaking the real wire format.

From https://docs.cohere.com/reference/chat, /reference/chat-stream, /v2/docs/streaming,
/docs/tool-use-streaming and /reference/embed:

- ``Authorization: Bearer <key>``; anything else -> 401 ``{"id": ..., "message": "invalid api token"}``.
- Chat bodies are validated like the API does: ``model`` and ``messages`` required, roles limited to
  system/user/assistant/tool, tool messages need ``tool_call_id``, unknown top-level fields are
  rejected (so an OpenAI-only field such as ``top_p`` or ``stop`` leaking through fails the test).
  Errors are ``{"id": ..., "message": ...}`` with the HTTP status.
- Streams are ``event: <type>\\ndata: <json with the same type>\\n\\n`` events: message-start,
  content-start/-delta/-end, tool-plan-delta, tool-call-start/-delta/-end, message-end.

Behaviour by model: ``error-<status>`` answers that status; ``error-context`` Cohere's 400 for a
prompt over the context window; ``stream-error`` ends a stream with
finish_reason ERROR; ``cut-stream`` drops the connection mid-stream. Otherwise: a request offering
tools whose last message is not a tool result gets a tool call to the first tool with
``TOOL_ARGUMENTS`` (streamed in ``TOOL_ARGUMENT_PIECES``); a request whose last message is a tool
result gets "The tool said: <result>"; anything else gets "echo: <last user text>".
"""

from __future__ import annotations

import json
import uuid

from aiohttp import web

from .server import FakeServer

CHAT_FIELDS = {
    "model", "messages", "stream", "tools", "strict_tools", "documents", "citation_options",
    "response_format", "safety_mode", "max_tokens", "stop_sequences", "temperature", "seed",
    "frequency_penalty", "presence_penalty", "k", "p", "logprobs", "tool_choice", "thinking", "priority",
}
EMBED_FIELDS = {"model", "texts", "images", "inputs", "input_type", "embedding_types", "output_dimension", "max_tokens", "truncate", "priority"}
INPUT_TYPES = {"search_document", "search_query", "classification", "clustering", "image"}
ROLES = {"system", "user", "assistant", "tool"}

TOOL_PLAN = "I will look up the weather in Madrid."
TOOL_CALL_ID = "get_weather_p1t92w7gfgq7"
# Split like the documentation's example stream, whitespace and newlines included.
TOOL_ARGUMENT_PIECES = ['{\n    "', "location", '":', ' "', "Mad", "rid", '"', "\n", "}"]
TOOL_ARGUMENTS = "".join(TOOL_ARGUMENT_PIECES)
CONTEXT_MESSAGE = ("too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 4215. "
                   "Try using a shorter prompt, or enabling prompt truncating.")
USAGE = {"billed_units": {"input_tokens": 17, "output_tokens": 12}, "tokens": {"input_tokens": 215, "output_tokens": 12}}


def cohere_error(status: int, message: str) -> web.Response:
    return web.json_response({"id": str(uuid.uuid4()), "message": message}, status=status)


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _validate_chat(body) -> str | None:
    if not isinstance(body, dict):
        return "invalid request: body must be an object"
    unknown = sorted(set(body) - CHAT_FIELDS)
    if unknown:
        return f"invalid request: unknown field: {unknown[0]}"
    if not body.get("model"):
        return "invalid request: model must be specified"
    for key in ("frequency_penalty", "presence_penalty"):  # docs.cohere.com/reference/chat: 0.0 - 1.0
        if key in body and not (isinstance(body[key], (int, float)) and 0 <= body[key] <= 1):
            return f"invalid request: {key} must be between 0 and 1"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "invalid request: messages must not be empty"
    known_calls: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ROLES:
            return f"invalid request: messages[{i}].role must be one of system, user, assistant, tool; got {role!r}"
        if role == "assistant":
            for call in message.get("tool_calls") or []:
                if not call.get("id") or not (call.get("function") or {}).get("name"):
                    return f"invalid request: messages[{i}].tool_calls need an id and a function name"
                known_calls.add(call["id"])
            if not message.get("tool_calls") and message.get("content") is None:
                return f"invalid request: messages[{i}] assistant message needs content or tool_calls"
        if role == "tool":
            if not message.get("tool_call_id"):
                return f"invalid request: messages[{i}].tool_call_id is required for tool messages"
            if message["tool_call_id"] not in known_calls:
                return f"invalid request: messages[{i}].tool_call_id does not match any tool call"
            if message.get("content") in (None, "", []):
                return f"invalid request: messages[{i}].content must not be empty"
        if role in ("user", "system") and message.get("content") in (None, [],):
            return f"invalid request: messages[{i}].content is required"
        if isinstance(message.get("content"), list):
            for part in message["content"]:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "image_url" and role == "user":
                    if not isinstance(part.get("image_url"), dict) or not part["image_url"].get("url"):
                        return f"invalid request: messages[{i}] image_url parts need image_url.url"
                elif kind != "text":
                    return f"invalid request: messages[{i}] content type {kind!r} is not supported for role {role}"
    for tool in body.get("tools") or []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type") != "function" or not isinstance(fn, dict) or not fn.get("name"):
            return "invalid request: tools must be {type: function, function: {name, description, parameters}}"
    if body.get("tool_choice") not in (None, "REQUIRED", "NONE"):
        return "invalid request: tool_choice must be REQUIRED or NONE"
    if "tool_choice" in body and not body.get("tools"):
        return "invalid request: tool_choice requires tools"
    if body.get("p") is not None and not 0.01 <= body["p"] <= 0.99:
        return "invalid request: p must be between 0.01 and 0.99"
    return None


def _answer(body: dict) -> tuple[str, dict]:
    """(finish_reason, message) for a non-streamed reply."""
    messages = body["messages"]
    last = messages[-1]
    if body.get("tools") and last.get("role") != "tool" and body.get("tool_choice") != "NONE":
        tool = body["tools"][0]["function"]
        # A tool without parameters gets a call without arguments: the API sends an empty string
        # (and, streamed, no tool-call-delta at all), which clients must not be left to json.loads.
        arguments = TOOL_ARGUMENTS if (tool.get("parameters") or {}).get("properties") else ""
        return "TOOL_CALL", {
            "role": "assistant",
            "tool_plan": TOOL_PLAN,
            "tool_calls": [{"id": TOOL_CALL_ID, "type": "function", "function": {"name": tool["name"], "arguments": arguments}}],
        }
    if last.get("role") == "tool":
        text = "The tool said: " + _text(last.get("content"))
    else:
        user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        text = "echo: " + _text(user.get("content"))
    finish = "COMPLETE"
    limit = body.get("max_tokens")
    if limit is not None and limit < len(text.split()):
        text = " ".join(text.split()[:limit])
        finish = "MAX_TOKENS"
    return finish, {"role": "assistant", "content": [{"type": "text", "text": text}]}


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _logprob(piece: str) -> dict:
    """A logprobs entry as Cohere sends it: a text span, its token ids and one logprob per token."""
    ids = list(range(len(piece.split()) + 1))
    return {"token_ids": ids, "text": piece, "logprobs": [-0.25] * len(ids)}


def _event(kind: str, payload: dict) -> bytes:
    payload = {"type": kind, **payload}
    return f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode()


def make_app(api_key: str) -> web.Application:
    app = web.Application()

    def authorized(request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {api_key}"

    async def chat(request: web.Request) -> web.StreamResponse:
        if not authorized(request):
            return cohere_error(401, "invalid api token")
        try:
            body = await request.json()
        except ValueError:
            return cohere_error(400, "invalid request: body is not valid JSON")
        problem = _validate_chat(body)
        if problem:
            return cohere_error(400, problem)
        model = body["model"]
        if model == "error-context":  # the real answer for a prompt over the model's context
            return cohere_error(400, CONTEXT_MESSAGE)
        if model.startswith("error-"):
            status = int(model.split("-", 1)[1])
            return cohere_error(status, f"fake cohere error {status}")
        finish, message = _answer(body)
        ident = str(uuid.uuid4())
        if not body.get("stream"):
            answer = {"id": ident, "finish_reason": finish, "message": message, "usage": USAGE}
            if body.get("logprobs") and not message.get("tool_calls"):
                answer["logprobs"] = [_logprob(w) for w in _pieces(message["content"][0]["text"])]
            return web.json_response(answer)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_event("message-start", {"id": ident, "delta": {"message": {
            "role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}}))
        if message.get("tool_calls"):
            for word in TOOL_PLAN.split(" "):
                piece = word if word == TOOL_PLAN.split(" ")[0] else " " + word
                await response.write(_event("tool-plan-delta", {"delta": {"message": {"tool_plan": piece}}}))
            call = message["tool_calls"][0]
            await response.write(_event("tool-call-start", {"index": 0, "delta": {"message": {"tool_calls": {
                "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": ""}}}}}))
            for piece in TOOL_ARGUMENT_PIECES if call["function"]["arguments"] else []:
                await response.write(_event("tool-call-delta", {"index": 0, "delta": {"message": {"tool_calls": {
                    "function": {"arguments": piece}}}}}))
            await response.write(_event("tool-call-end", {"index": 0}))
        else:
            text = message["content"][0]["text"]
            await response.write(_event("content-start", {"index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}))
            words = text.split(" ")
            for i, word in enumerate(words):
                piece = word if i == 0 else " " + word
                await response.write(_event("content-delta", {"index": 0, "delta": {"message": {"content": {"text": piece}}},
                                                              "logprobs": _logprob(piece) if body.get("logprobs") else None}))
                if model == "cut-stream" and i == 0:
                    request.transport.close()
                    return response
            await response.write(_event("content-end", {"index": 0}))
        if model == "stream-error":
            finish = "ERROR"
        end = {"finish_reason": finish, "usage": USAGE}
        if finish == "ERROR":
            end["error"] = "internal generation failure"
        await response.write(_event("message-end", {"id": None, "delta": end}))
        return response

    async def embed(request: web.Request) -> web.Response:
        if not authorized(request):
            return cohere_error(401, "invalid api token")
        body = await request.json()
        unknown = sorted(set(body) - EMBED_FIELDS)
        if unknown:
            return cohere_error(400, f"invalid request: unknown field: {unknown[0]}")
        if not body.get("model"):
            return cohere_error(400, "invalid request: model must be specified")
        if not body.get("embedding_types"):
            return cohere_error(400, "invalid request: embedding_types is required")
        if body.get("input_type") not in INPUT_TYPES:
            return cohere_error(400, "invalid request: input_type must be one of " + ", ".join(sorted(INPUT_TYPES)))
        texts = body.get("texts")
        if not isinstance(texts, list) or not texts or len(texts) > 96:
            return cohere_error(400, "invalid request: texts must contain between 1 and 96 items")
        dims = body.get("output_dimension") or 4
        vectors = [[round((len(t) + i) / 100, 4) for i in range(dims)] for t in texts]
        return web.json_response({
            "id": str(uuid.uuid4()),
            "texts": texts,
            "embeddings": {"float": vectors},
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": sum(len(t.split()) for t in texts)}},
            "response_type": "embeddings_by_type",
        })

    app.router.add_post("/v2/chat", chat)
    app.router.add_post("/v2/embed", embed)
    return app


def start(api_key: str = "co-fake-key") -> FakeServer:
    return FakeServer(make_app(api_key)).start()
