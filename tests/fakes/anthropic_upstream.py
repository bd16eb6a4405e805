"""A fake Anthropic Messages API: its wire format, validation, errors and SSE framing.

Built from Anthropic's public reference (https://docs.anthropic.com/en/api/messages,
/en/api/errors, /en/docs/build-with-claude/streaming, /en/docs/agents-and-tools/tool-use/...):

- ``POST /v1/messages`` only; ``x-api-key`` must be the key (401 ``authentication_error``
  otherwise), ``anthropic-version`` must be present (400).
- The body is validated like the real API: ``model``, ``max_tokens`` and ``messages`` required,
  unknown top-level fields rejected ("Extra inputs are not permitted"), roles only user/assistant
  (a ``system`` role gets the real message), non-empty text blocks, image sources, temperature and
  top_p in [0, 1], tool definitions and tool_choice, the tool-use pairing rules (every
  ``tool_use`` must be answered by a ``tool_result`` in the next (user) turn, every
  ``tool_result`` must name a ``tool_use`` of the previous turn, tool results come first), and with
  thinking enabled, the signed thinking block ahead of the last tool_use turn. Thinking blocks sent
  back must carry a signature this fake issued for exactly that text (redacted blocks: data it
  issued), as the real API verifies them. Tool results are a string or text/image/document blocks.
  Consecutive same-role turns are combined, as the real API does, before those checks.
- Errors are ``{"type":"error","error":{"type","message"},"request_id"}`` with the real statuses.
- Streams are ``event: <type>\\ndata: <json>\\n\\n`` with a ``ping`` after ``message_start``.

Behaviour is picked by the model name:
  error-<status>       that status with Anthropic's error type (429 and 529 carry retry-after)
  error-context        400 "prompt is too long: ..." (the real message for an over-long prompt)
  error-credit         400 "Your credit balance is too low ..." (the real message for an empty balance)
  stream-error         a stream that sends some text, then an ``error`` event (overloaded_error)
  stream-cut           a stream that stops without message_stop (connection closed)
  slow-stream          text deltas 0.3 s apart (counts ``streams_abandoned`` when the client leaves)
  thinking             a thinking block (with signature) before the text answer
  thinking-redacted    a thinking block, then a redacted_thinking block, before the answer
  refuse               stop_reason "refusal"
  cached               usage with cache_read/cache_creation tokens
  anything else        tools offered and the last turn is not a tool result -> tool_use blocks (one per
                       offered tool, max 2; one if disable_parallel_tool_use; the named one if forced);
                       the last turn holds tool results -> "Tool said: <results>";
                       otherwise "echo: <last user text>" (+ " [image:<source type>]" per image).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import web

from .server import FakeServer

API_VERSION = "2023-06-01"
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               402: "billing_error", 404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               500: "api_error", 529: "overloaded_error"}
LIVE_ONLY_MODEL = "claude-live-only-7"
CONTEXT_MESSAGE = "prompt is too long: 210311 tokens > 200000 maximum"
CREDIT_MESSAGE = ("Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to "
                  "upgrade or purchase credits.")
TOP_LEVEL = {"model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream", "temperature",
             "top_p", "top_k", "tools", "tool_choice", "thinking", "service_tier", "container", "mcp_servers",
             "output_config", "context_management"}
MEDIA_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
# The tool inputs the fake answers with, as the exact JSON text it streams (spacing included).
TOOL_INPUTS = ['{"location": "San Francisco, CA", "unit": "celsius"}', '{"query": "weather \\"today\\"", "limit": 3}']
THINKING = "Let me think about this step by step."
SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj"
ISSUED = {SIGNATURE: THINKING}  # signature -> the thinking text it signs
TOOL_RESULT_KINDS = {"text", "image", "document", "search_result"}


class Invalid(Exception):
    pass


def anthropic_error(status: int, message: str, headers: dict | None = None) -> web.Response:
    body = {"type": "error", "error": {"type": ERROR_TYPES.get(status, "invalid_request_error"), "message": message},
            "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}
    return web.json_response(body, status=status, headers=headers)


def _blocks(content: Any, where: str) -> list[dict]:
    if isinstance(content, str):
        if not content.strip():
            raise Invalid(f"{where}: text content blocks must contain non-whitespace text")
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise Invalid(f"{where}.content: Input should be a valid list")
    for i, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        here = f"{where}.content.{i}"
        if kind == "text":
            if not isinstance(block.get("text"), str) or not block["text"].strip():
                raise Invalid(f"{here}: text content blocks must contain non-whitespace text")
        elif kind in ("image", "document"):
            source = block.get("source") or {}
            if source.get("type") == "base64":
                if kind == "image" and source.get("media_type") not in MEDIA_TYPES:
                    raise Invalid(f"{here}.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'")
                if not source.get("data"):
                    raise Invalid(f"{here}.source.base64.data: Field required")
            elif source.get("type") == "url":
                if not source.get("url"):
                    raise Invalid(f"{here}.source.url.url: Field required")
            else:
                raise Invalid(f"{here}.source: Input tag '{source.get('type')}' found using 'type' does not match any of the expected tags: 'base64', 'url'")
        elif kind == "tool_use":
            if not block.get("id") or not block.get("name") or not isinstance(block.get("input"), dict):
                raise Invalid(f"{here}.tool_use: id, name and an object input are required")
        elif kind == "tool_result":
            if not block.get("tool_use_id"):
                raise Invalid(f"{here}.tool_result.tool_use_id: Field required")
            inner = block.get("content")
            if isinstance(inner, list):
                for j, part in enumerate(inner):
                    if not isinstance(part, dict) or part.get("type") not in TOOL_RESULT_KINDS:
                        tag = part.get("type") if isinstance(part, dict) else part
                        raise Invalid(f"{here}.tool_result.content.{j}: Input tag '{tag}' found using 'type' does not "
                                      "match any of the expected tags: 'text', 'image', 'search_result', 'document'")
                if inner:
                    _blocks(inner, f"{here}.tool_result")
            elif inner is not None and not isinstance(inner, str):
                raise Invalid(f"{here}.tool_result.content: Input should be a valid string or list")
        elif kind == "thinking":
            if not isinstance(block.get("thinking"), str) or not isinstance(block.get("signature"), str):
                raise Invalid(f"{here}.thinking.signature: Field required")
            if ISSUED.get(block["signature"]) != block["thinking"]:
                raise Invalid(f"{here}: Invalid `signature` in `thinking` block")
        elif kind == "redacted_thinking":
            if block.get("data") != REDACTED:
                raise Invalid(f"{here}: Invalid `data` in `redacted_thinking` block")
        else:
            raise Invalid(f"{here}: Input tag '{kind}' found using 'type' does not match any of the expected tags")
    return list(content)


def _cache_rules(body: dict) -> None:
    """Prompt caching (docs.anthropic.com, "Prompt caching"): ``cache_control`` is
    ``{"type": "ephemeral"}`` (ttl 5m or 1h) on tools, system blocks and message blocks; at most 4."""
    system = body.get("system")
    if isinstance(system, list):
        for i, block in enumerate(system):
            if not isinstance(block, dict) or block.get("type") != "text" or not str(block.get("text") or "").strip():
                raise Invalid(f"system.{i}: system blocks must be text blocks with non-whitespace text")
    places = [*(body.get("tools") or []), *(system if isinstance(system, list) else [])]
    for message in body.get("messages") or []:
        if isinstance(message.get("content"), list):
            places += message["content"]
            for block in message["content"]:  # breakpoints inside tool results count too
                if isinstance(block, dict) and block.get("type") == "tool_result" and isinstance(block.get("content"), list):
                    places += block["content"]
    marks = [p["cache_control"] for p in places if isinstance(p, dict) and "cache_control" in p]
    for mark in marks:
        if not isinstance(mark, dict) or mark.get("type") != "ephemeral" or set(mark) - {"type", "ttl"} \
                or mark.get("ttl", "5m") not in ("5m", "1h"):
            raise Invalid("cache_control: Input tag does not match the expected tag: 'ephemeral'")
    if len(marks) > 4:
        raise Invalid(f"A maximum of 4 blocks with cache_control may be provided. Found {len(marks)}.")


def _thinking_rules(body: dict) -> None:
    """Extended thinking's documented constraints (docs.anthropic.com, "Building with extended thinking")."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < 1024:
        raise Invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
    if body["max_tokens"] <= budget:
        raise Invalid("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
                      "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size")
    if "temperature" in body and body["temperature"] != 1:
        raise Invalid("`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at "
                      "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility")
    if "top_k" in body:
        raise Invalid("`top_k` is not compatible with thinking. Please consult our documentation at "
                      "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility")
    if "top_p" in body and not 0.95 <= body["top_p"] <= 1:
        raise Invalid("`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled.")
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        raise Invalid("Thinking may not be enabled when tool_choice forces tool use.")


def validate(body: Any) -> list[dict]:
    """Raise Invalid with the real API's kind of message; return the turns, same-role runs combined."""
    if not isinstance(body, dict):
        raise Invalid("Input should be a valid dictionary")
    for key in body:
        if key not in TOP_LEVEL:
            raise Invalid(f"{key}: Extra inputs are not permitted")
    for key in ("model", "messages", "max_tokens"):
        if key not in body:
            raise Invalid(f"{key}: Field required")
    if not isinstance(body["max_tokens"], int) or isinstance(body["max_tokens"], bool) or body["max_tokens"] < 1:
        raise Invalid("max_tokens: Input should be greater than or equal to 1")
    for key in ("temperature", "top_p"):
        if key in body and not (isinstance(body[key], (int, float)) and 0 <= body[key] <= 1):
            raise Invalid(f"{key}: Input should be less than or equal to 1")
    if "system" in body and not isinstance(body["system"], (str, list)):
        raise Invalid("system: Input should be a valid string")
    if "stop_sequences" in body and not (isinstance(body["stop_sequences"], list) and all(isinstance(s, str) for s in body["stop_sequences"])):
        raise Invalid("stop_sequences: Input should be a valid list of strings")
    if any(not s.strip() for s in body.get("stop_sequences") or []):
        raise Invalid("stop_sequences: each stop sequence must contain non-whitespace characters")
    if "metadata" in body and set(body["metadata"]) - {"user_id"}:
        raise Invalid("metadata: Extra inputs are not permitted")
    names = []
    for i, tool in enumerate(body.get("tools") or []):
        if not TOOL_NAME.match(tool.get("name", "")):
            raise Invalid(f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise Invalid(f"tools.{i}.custom.input_schema.type: Input should be 'object'")
        if set(tool) - {"name", "description", "input_schema", "cache_control", "type"}:
            raise Invalid(f"tools.{i}.custom.{sorted(set(tool) - {'name', 'description', 'input_schema'})[0]}: Extra inputs are not permitted")
        names.append(tool["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if choice.get("type") not in ("auto", "any", "tool", "none"):
            raise Invalid("tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'")
        if choice["type"] == "tool" and choice.get("name") not in names:
            raise Invalid(f"tool_choice.tool.name: Tool '{choice.get('name')}' not found in provided tools")
        if "tools" not in body:
            raise Invalid("tool_choice may only be specified while providing tools.")
    _thinking_rules(body)
    _cache_rules(body)
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        raise Invalid("messages: at least one message is required")
    turns: list[dict] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "system":
            raise Invalid('messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, '
                          'not "system" as an input message role.')
        if role not in ("user", "assistant"):
            raise Invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        blocks = _blocks(message.get("content"), f"messages.{i}")
        if turns and turns[-1]["role"] == role:  # the real API combines consecutive same-role turns
            turns[-1]["content"] = turns[-1]["content"] + blocks
        else:
            turns.append({"role": role, "content": blocks})
    for i, turn in enumerate(turns):
        kinds = [b["type"] for b in turn["content"]]
        if turn["role"] == "assistant" and "tool_result" in kinds:
            raise Invalid(f"messages.{i}: tool_result blocks are only allowed in user messages")
        if turn["role"] == "user" and "tool_use" in kinds:
            raise Invalid(f"messages.{i}: tool_use blocks are only allowed in assistant messages")
        if "tool_result" in kinds and kinds != sorted(kinds, key=lambda k: k != "tool_result"):
            raise Invalid(f"messages.{i}: tool_result blocks must come first in the user message content")
        uses = [b["id"] for b in turn["content"] if b["type"] == "tool_use"]
        if uses:
            following = turns[i + 1]["content"] if i + 1 < len(turns) else None
            if following is not None:
                answered = {b["tool_use_id"] for b in following if b["type"] == "tool_result"}
                missing = [u for u in uses if u not in answered]
                if missing:
                    raise Invalid(f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks immediately "
                                  f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
                                  "`tool_result` block in the next message.")
        results = [b["tool_use_id"] for b in turn["content"] if b["type"] == "tool_result"]
        if results:
            previous = {b["id"] for b in turns[i - 1]["content"] if b["type"] == "tool_use"} if i > 0 else set()
            for r in results:
                if r not in previous:
                    raise Invalid(f"messages.{i}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: {r}. "
                                  "Each `tool_result` block must have a corresponding `tool_use` block in the previous message.")
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled" and len(turns) >= 2:
        last_assistant = len(turns) - 2
        content = turns[last_assistant]["content"]
        if turns[-1]["role"] == "user" and any(b["type"] == "tool_use" for b in content) \
                and content[0]["type"] not in ("thinking", "redacted_thinking"):
            raise Invalid(f"messages.{last_assistant}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
                          f"`{content[0]['type']}`. When `thinking` is enabled, a final `assistant` message must start with "
                          "a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks).")
    return turns


def _text(blocks: list[dict]) -> str:
    return " ".join(b["text"] for b in blocks if b["type"] == "text")


def _result_text(block: dict) -> str:
    content = block.get("content")
    if isinstance(content, list):
        return " ".join(b["text"] if b["type"] == "text" else f"[{b['type']}:{b['source']['type']}]" for b in content
                        if b["type"] in ("text", "image", "document"))
    return content or ""


def plan(body: dict, turns: list[dict]) -> tuple[list[dict], str]:
    """(content blocks, stop_reason) the fake answers with."""
    model = body["model"]
    last = turns[-1]
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {"type": "auto"}
    results = [b for b in last["content"] if b["type"] == "tool_result"] if last["role"] == "user" else []
    blocks: list[dict] = []
    if model.startswith("thinking"):
        blocks.append({"type": "thinking", "thinking": THINKING, "signature": SIGNATURE})
    if model == "thinking-redacted":
        blocks.append({"type": "redacted_thinking", "data": REDACTED})
    if tools and choice["type"] != "none" and not results:
        offered = [t for t in tools if choice["type"] != "tool" or t["name"] == choice["name"]]
        if choice.get("disable_parallel_tool_use"):
            offered = offered[:1]
        for n, tool in enumerate(offered[:2]):
            text = TOOL_INPUTS[n] if tool["name"] != "json_response" else '{"answer": "forty-two", "confidence": 0.9}'
            blocks.append({"type": "tool_use", "id": f"toolu_01A09q90qw90lq917835lq9{n}", "name": tool["name"],
                           "input": json.loads(text), "_text": text})
        return blocks, "tool_use"
    if results:
        text = "Tool said: " + "; ".join(_result_text(b) for b in results)
    else:
        user = next(t for t in reversed(turns) if t["role"] == "user")
        text = "echo: " + _text(user["content"])
        for b in user["content"]:
            if b["type"] == "image":
                text += f" [image:{b['source']['type']}]"
    if model == "refuse":
        blocks.append({"type": "text", "text": "I can't help with that."})
        return blocks, "refusal"
    words = text.split(" ")
    if len(words) > body["max_tokens"]:
        blocks.append({"type": "text", "text": " ".join(words[: body["max_tokens"]])})
        return blocks, "max_tokens"
    for stop in body.get("stop_sequences") or []:
        if stop in text:
            blocks.append({"type": "text", "text": text.split(stop)[0]})
            return blocks, "stop_sequence"
    blocks.append({"type": "text", "text": text})
    return blocks, "end_turn"


def usage(model: str, output_tokens: int) -> dict:
    if model == "cached":
        return {"input_tokens": 3, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 2000,
                "output_tokens": output_tokens}
    return {"input_tokens": 25, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": output_tokens}


def message(body: dict, blocks: list[dict], stop: str) -> dict:
    content = [{k: v for k, v in b.items() if k != "_text"} for b in blocks]
    return {"id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant", "model": body["model"],
            "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage(body["model"], 12)}


def sse(kind: str, data: dict) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def _pieces(text: str, size: int) -> list[str]:
    return [text[i: i + size] for i in range(0, len(text), size)]


async def stream(request: web.Request, body: dict, blocks: list[dict], stop: str) -> web.StreamResponse:
    fake: FakeServer = request.app["fake"]
    try:
        resp = await _stream(request, body, blocks, stop)
    except (ConnectionResetError, asyncio.CancelledError):
        fake.bump("streams_abandoned")
        raise
    fake.bump("streams_ended")
    return resp


async def _stream(request: web.Request, body: dict, blocks: list[dict], stop: str) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"})
    await resp.prepare(request)
    model = body["model"]
    start = message(body, [], None)  # type: ignore[arg-type]
    start["usage"] = {**usage(model, 1)}
    await resp.write(sse("message_start", {"type": "message_start", "message": start}))
    await resp.write(sse("ping", {"type": "ping"}))
    for index, block in enumerate(blocks):
        kind = block["type"]
        if kind == "text":
            await resp.write(sse("content_block_start", {"type": "content_block_start", "index": index,
                                                         "content_block": {"type": "text", "text": ""}}))
            for piece in _pieces(block["text"], 7):
                await resp.write(sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                             "delta": {"type": "text_delta", "text": piece}}))
                if model == "stream-error":
                    await resp.write(sse("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
                    return resp
                if model == "stream-cut":
                    return resp
                if model == "slow-stream":
                    await asyncio.sleep(0.3)
        elif kind == "thinking":
            await resp.write(sse("content_block_start", {"type": "content_block_start", "index": index,
                                                         "content_block": {"type": "thinking", "thinking": "", "signature": ""}}))
            for piece in _pieces(block["thinking"], 9):
                await resp.write(sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                             "delta": {"type": "thinking_delta", "thinking": piece}}))
            await resp.write(sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                         "delta": {"type": "signature_delta", "signature": block["signature"]}}))
        elif kind == "redacted_thinking":  # sent whole in its start event, no deltas
            await resp.write(sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": block}))
        elif kind == "tool_use":
            await resp.write(sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
                "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}))
            await resp.write(sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                         "delta": {"type": "input_json_delta", "partial_json": ""}}))
            for piece in _pieces(block["_text"], 11):
                event = sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                    "delta": {"type": "input_json_delta", "partial_json": piece}})
                # Split some events across two writes: the client must reassemble SSE framing.
                await resp.write(event[:13])
                await asyncio.sleep(0)
                await resp.write(event[13:])
        await resp.write(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    await resp.write(sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                           "usage": {"output_tokens": 12}}))
    await resp.write(sse("message_stop", {"type": "message_stop"}))
    return resp


def make_app(api_key: str) -> web.Application:
    app = web.Application()

    async def messages(request: web.Request) -> web.StreamResponse:
        key = request.headers.get("x-api-key")
        if not key:
            return anthropic_error(401, "x-api-key header is required")
        if key != api_key:
            return anthropic_error(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return anthropic_error(400, "anthropic-version: header is required")
        try:
            body = json.loads(await request.read())
        except ValueError:
            return anthropic_error(400, "There was an error parsing the body")
        try:
            turns = validate(body)
        except Invalid as exc:
            return anthropic_error(400, str(exc))
        model = body["model"]
        if model in ("error-context", "error-credit"):
            return anthropic_error(400, CONTEXT_MESSAGE if model == "error-context" else CREDIT_MESSAGE)
        if model.startswith("error-"):
            status = int(model.split("-", 1)[1])
            headers = {"retry-after": "17"} if status in (429, 529) else None
            messages_ = {401: "invalid x-api-key", 404: f"model: {model}", 429: "Number of request tokens has exceeded your per-minute rate limit",
                         500: "Internal server error", 529: "Overloaded"}
            return anthropic_error(status, messages_.get(status, "error"), headers)
        blocks, stop = plan(body, turns)
        if body.get("stream"):
            return await stream(request, body, blocks, stop)
        return web.json_response(message(body, blocks, stop))

    async def models(request: web.Request) -> web.Response:
        if request.headers.get("x-api-key") != api_key:
            return anthropic_error(401, "invalid x-api-key")
        return web.json_response({"data": [{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5",
                                            "created_at": "2025-09-29T00:00:00Z"},
                                           # In no catalogue: only a working refresh of the live list can show it.
                                           {"type": "model", "id": LIVE_ONLY_MODEL, "display_name": "Live only",
                                            "created_at": "2025-10-01T00:00:00Z"}],
                                  "has_more": False, "first_id": "claude-sonnet-4-5", "last_id": "claude-sonnet-4-5"})

    async def count_tokens(request: web.Request) -> web.Response:
        # https://docs.anthropic.com/en/api/messages-count-tokens: {"input_tokens": N}. The fake
        # counts words of the text blocks (plus 10 per tool) so tests can tell it from an estimate.
        if request.headers.get("x-api-key") != api_key:
            return anthropic_error(401, "invalid x-api-key")
        body = json.loads(await request.read())
        if "max_tokens" in body:
            return anthropic_error(400, "max_tokens: Extra inputs are not permitted")
        words = sum(len(_text(t["content"]).split()) for t in validate({**body, "max_tokens": 1}))
        return web.json_response({"input_tokens": words + 10 * len(body.get("tools") or [])})

    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)
    app.router.add_get("/v1/models", models)
    return app


def start(api_key: str) -> FakeServer:
    return FakeServer(make_app(api_key)).start()
