"""OpenAI chat <-> Anthropic Messages: the translation tables, as pure functions (no I/O).

Checked against Anthropic's public API reference:
  request/response  https://docs.anthropic.com/en/api/messages  (platform.claude.com/docs/en/api/messages/create)
  streaming         https://docs.anthropic.com/en/docs/build-with-claude/streaming
  tool use          https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use
  vision            https://docs.anthropic.com/en/docs/build-with-claude/vision  (source base64 | url)
  stop reasons      https://docs.anthropic.com/en/api/handling-stop-reasons
  errors            https://docs.anthropic.com/en/api/errors

Choices this module makes (and the README states):
- ``max_tokens`` is required by Anthropic; when the client sends neither ``max_tokens`` nor
  ``max_completion_tokens`` it is set to ``default_max_tokens`` (4096 unless configured).
- system/developer messages, wherever they appear, are joined (blank line between) into ``system``.
- Consecutive messages of one role are merged into one turn, and consecutive ``tool`` results go
  into ONE user message, tool_result blocks first, as Anthropic's tool-use guide requires.
- ``response_format`` json_object/json_schema: Anthropic's Messages API takes no OpenAI-style JSON
  flag, so the answer is produced through a forced tool (``json_response``) whose ``input_schema``
  is the client's schema (``{"type": "object"}`` for json_object); its input comes back as the
  message ``content`` (finish_reason ``stop``). When the client also offers tools, tool_choice
  becomes ``any`` so the model either calls a client tool or answers through ``json_response``.
  With extended thinking (which forbids forced tool use) or a name clash, a system instruction is
  used instead.
  Anthropic's newer native ``output_config.format`` is not used: it exists only on recent models,
  while a forced tool works on every model that supports tools.
  Docs: https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use#json-mode
- usage: ``prompt_tokens`` = input_tokens + cache_read_input_tokens + cache_creation_input_tokens
  (OpenAI's prompt_tokens counts every prompt token, cached or not; Anthropic's input_tokens counts
  only the uncached rest), ``prompt_tokens_details.cached_tokens`` = cache_read_input_tokens.
- ``thinking`` blocks go to ``reasoning_content`` (message and stream delta), never into ``content``;
  a plain answer also carries them whole as ``thinking_blocks`` (signature included, as LiteLLM does),
  and ``thinking_blocks`` sent back on an assistant message are replayed to Anthropic. Streams carry
  the text only (``signature_delta`` has no chunk field).
- Anthropic-only knobs pass through when the client sends them (``top_k``, ``thinking``, ``service_tier``).
- Ignored, having no Anthropic counterpart: presence/frequency_penalty, seed, logit_bias,
  reasoning_effort, store, metadata (``user`` is what becomes metadata.user_id), image ``detail``.
- Rejected with a clear 400: ``n`` > 1 and ``logprobs`` (Anthropic has neither), unknown content
  parts, malformed tool-call arguments, a tool message without ``tool_call_id``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import msgspec

from ..errors import GatewayError, InvalidRequest, ProviderError
from ..schemas.openai import (
    cached_prompt_usage,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    Delta,
    FunctionCall,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from ..sse import DONE, event

DEFAULT_MAX_TOKENS = 4096
JSON_TOOL = "json_response"
_JSON_TOOL_DESCRIPTION = "Respond to the user with a JSON value matching this schema. Always use this tool for the final answer."
_JSON_INSTRUCTION = "Respond only with a valid JSON object, with no text before or after it."
_PASS_THROUGH = ("top_k", "thinking", "service_tier")

_decode = msgspec.json.decode
_encode = msgspec.json.Encoder().encode

# https://docs.anthropic.com/en/api/handling-stop-reasons
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


class ReasoningMessage(AssistantMessage, kw_only=True):
    """An assistant message that also carries the model's thinking.

    ``reasoning_content`` is the readable text (the field name DeepSeek, vLLM and others use);
    ``thinking_blocks`` are Anthropic's blocks as sent, signatures and redacted data included, so a
    client that sends the message back unchanged keeps a thinking + tool-use conversation valid
    (Anthropic requires the signed thinking block before the tool_use it led to).
    """

    reasoning_content: str | None = None
    thinking_blocks: list[dict[str, Any]] | None = None


class ReasoningDelta(Delta, kw_only=True, omit_defaults=True):
    reasoning_content: str | None = None


# --- request: OpenAI chat -> Anthropic Messages --------------------------------------------------


def _text_of(content: Any, where: str, sep: str = "") -> str:
    """A system/tool message's content as plain text (string, or its text parts joined by ``sep``)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for i, part in enumerate(content):
        if part.get("type") != "text":
            raise InvalidRequest(f"{where}.content[{i}]: only text parts are allowed here", param=f"{where}.content")
        texts.append(part.get("text") or "")
    return sep.join(texts)


def _image_block(url: str, where: str) -> dict[str, Any]:
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64" or not media_type:
            raise InvalidRequest(f"{where}: data URLs must look like data:<media type>;base64,<data>", param=where)
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _file_block(part: dict[str, Any], where: str) -> dict[str, Any]:
    file = part.get("file") or {}
    data = file.get("file_data")
    if not isinstance(data, str) or not data.startswith("data:"):
        raise InvalidRequest(f"{where}: only inline file_data (a data: URL) can be sent to anthropic", param=where)
    block = _image_block(data, where)
    media_type = block["source"]["media_type"]
    if media_type.startswith("image/"):
        return block
    # PDFs (and plain text) are Anthropic "document" blocks.
    block["type"] = "document"
    return block


def _content_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        kind = part.get("type")
        here = f"{where}.content[{i}]"
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url") or {}
            url = image.get("url") if isinstance(image, dict) else None
            if not isinstance(url, str) or not url:
                raise InvalidRequest(f"{here}.image_url.url is required", param=f"{here}.image_url.url")
            blocks.append(_image_block(url, here))
        elif kind == "file":
            blocks.append(_file_block(part, here))
        elif kind == "refusal":
            if part.get("refusal"):
                blocks.append({"type": "text", "text": part["refusal"]})
        else:
            raise InvalidRequest(f"{here}: content part type {kind!r} is not supported by anthropic", param=f"{here}.type")
    return blocks


def _tool_use_blocks(tool_calls: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    blocks = []
    for j, tc in enumerate(tool_calls):
        fn = tc.get("function") or {}
        args = fn.get("arguments") or ""
        try:
            value = _decode(args) if args.strip() else {}
        except msgspec.DecodeError:
            raise InvalidRequest(
                f"{where}.tool_calls[{j}].function.arguments is not valid JSON", param=f"{where}.tool_calls"
            ) from None
        if not isinstance(value, dict):
            raise InvalidRequest(
                f"{where}.tool_calls[{j}].function.arguments must be a JSON object", param=f"{where}.tool_calls"
            )
        blocks.append({"type": "tool_use", "id": tc["id"], "name": fn.get("name", ""), "input": value})
    return blocks


def _thinking_blocks(value: Any, where: str) -> list[dict[str, Any]]:
    """Thinking blocks a client sends back on an assistant message (as we returned them)."""
    if not value:
        return []
    if not isinstance(value, list):
        raise InvalidRequest(f"{where}.thinking_blocks must be an array", param=f"{where}.thinking_blocks")
    blocks = []
    for i, block in enumerate(value):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "thinking" and isinstance(block.get("thinking"), str) and isinstance(block.get("signature"), str):
            blocks.append({"type": "thinking", "thinking": block["thinking"], "signature": block["signature"]})
        elif kind == "redacted_thinking" and isinstance(block.get("data"), str):
            blocks.append({"type": "redacted_thinking", "data": block["data"]})
        else:
            raise InvalidRequest(f"{where}.thinking_blocks[{i}] is not a thinking or redacted_thinking block",
                                 param=f"{where}.thinking_blocks")
    return blocks


def _tool_result_block(message: dict[str, Any], where: str) -> dict[str, Any]:
    tool_call_id = message.get("tool_call_id")
    if not tool_call_id:
        raise InvalidRequest(f"{where}.tool_call_id is required for role 'tool'", param=f"{where}.tool_call_id")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_call_id}
    text = _text_of(message.get("content"), where)
    if text:
        block["content"] = text
    return block


def _messages(messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """(system texts, Anthropic turns) with same-role runs merged."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message["role"]
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            text = _text_of(message.get("content"), where, "\n")
            if text:
                system.append(text)
            continue
        if role == "assistant":
            blocks = _thinking_blocks(message.get("thinking_blocks"), where)
            blocks += _content_blocks(message.get("content"), where)
            if message.get("tool_calls"):
                blocks += _tool_use_blocks(message["tool_calls"], where)
            target = "assistant"
        elif role == "tool":
            blocks, target = [_tool_result_block(message, where)], "user"
        elif role == "function":
            raise InvalidRequest(f"{where}: the deprecated 'function' role is not supported; use 'tool'", param=where)
        else:
            blocks, target = _content_blocks(message.get("content"), where), "user"
        if not blocks:
            continue
        if turns and turns[-1]["role"] == target:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": target, "content": blocks})
    for turn in turns:
        blocks = turn["content"]
        if turn["role"] == "user" and any(b["type"] == "tool_result" for b in blocks):
            # Anthropic wants the tool results first in their user message, any text after them.
            blocks.sort(key=lambda b: b["type"] != "tool_result")
        if len(blocks) == 1 and blocks[0]["type"] == "text":
            turn["content"] = blocks[0]["text"]
    # A final assistant turn is a prefill, which Anthropic rejects with trailing whitespace.
    if turns and turns[-1]["role"] == "assistant" and isinstance(turns[-1]["content"], str):
        turns[-1]["content"] = turns[-1]["content"].rstrip()
        if not turns[-1]["content"]:
            turns.pop()
    return system, turns


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(tools):
        if tool.get("type", "function") != "function":
            raise InvalidRequest(f"tools[{i}]: only function tools are supported by anthropic", param=f"tools[{i}].type")
        fn = tool["function"]
        entry: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            entry["description"] = fn["description"]
        entry["input_schema"] = fn.get("parameters") or {"type": "object", "properties": {}}
        out.append(entry)
    return out


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"type": "auto"}
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        return {"type": "any"}
    return {"type": "tool", "name": choice["function"]["name"]}


def _json_schema(fmt: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        return spec.get("schema") or {"type": "object"}, spec.get("description")
    return {"type": "object"}, None


def to_anthropic(data: dict[str, Any], model: str, default_max_tokens: int = DEFAULT_MAX_TOKENS) -> dict[str, Any]:
    """The client's (already validated) chat request -> an Anthropic Messages request body."""
    if (data.get("n") or 1) > 1:
        raise InvalidRequest("anthropic does not support n > 1", param="n", code="unsupported_parameter")
    if data.get("logprobs"):
        raise InvalidRequest("anthropic does not return logprobs", param="logprobs", code="unsupported_parameter")
    system, turns = _messages(data["messages"])
    body: dict[str, Any] = {"model": model, "messages": turns}
    body["max_tokens"] = data.get("max_completion_tokens") or data.get("max_tokens") or default_max_tokens
    for key in ("temperature", "top_p"):
        if data.get(key) is not None:
            body[key] = data[key]
    stop = data.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if data.get("user"):
        body["metadata"] = {"user_id": data["user"]}
    for key in _PASS_THROUGH:
        if data.get(key) is not None:
            body[key] = data[key]

    tools = _tools(data["tools"]) if data.get("tools") else []
    choice = _tool_choice(data.get("tool_choice")) if tools else None

    fmt = data.get("response_format") or {}
    if fmt.get("type") in ("json_object", "json_schema"):
        thinking = isinstance(body.get("thinking"), dict) and body["thinking"].get("type") == "enabled"
        schema, description = _json_schema(fmt)
        clash = any(t["name"] == JSON_TOOL for t in tools)
        if thinking or clash or schema.get("type") != "object":
            instruction = _JSON_INSTRUCTION
            if fmt.get("type") == "json_schema":
                instruction = "Respond only with valid JSON matching this JSON schema, with no text before or after it: " + _encode(schema).decode()
            system.append(instruction)
        else:
            tools.append({"name": JSON_TOOL, "description": description or _JSON_TOOL_DESCRIPTION, "input_schema": schema})
            if choice is None or choice["type"] == "auto":
                choice = {"type": "any"} if len(tools) > 1 else {"type": "tool", "name": JSON_TOOL}
            elif choice["type"] == "none":
                choice = {"type": "tool", "name": JSON_TOOL}
    if tools:
        body["tools"] = tools
        if data.get("parallel_tool_calls") is False and (choice is None or choice["type"] != "none"):
            choice = dict(choice or {"type": "auto"})
            choice["disable_parallel_tool_use"] = True
        if choice is not None:
            body["tool_choice"] = choice
    if system:
        body["system"] = "\n\n".join(system)
    if data.get("stream"):
        body["stream"] = True
    return body


# --- response: Anthropic Message -> OpenAI chat.completion ---------------------------------------


def usage_of(usage: dict[str, Any] | None) -> Usage | None:
    if not usage:
        return None
    return cached_prompt_usage(
        usage.get("input_tokens") or 0,
        usage.get("output_tokens") or 0,
        cache_read=usage.get("cache_read_input_tokens") or 0,
        cache_write=usage.get("cache_creation_input_tokens") or 0,
    )


def finish_reason(stop_reason: str | None, tool_called: bool) -> str | None:
    if stop_reason is None:
        return None
    if stop_reason == "tool_use" and not tool_called:
        return "stop"  # only the JSON-mode tool answered: to the client that is a plain answer
    return FINISH_REASONS.get(stop_reason, "stop")


def from_anthropic(message: dict[str, Any], model: str, created: int | None = None) -> ChatCompletion:
    texts: list[str] = []
    thinking: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    calls: list[ToolCall] = []
    for block in message.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "thinking":
            thinking.append(block.get("thinking", ""))
            thinking_blocks.append({"type": "thinking", "thinking": block.get("thinking", ""), "signature": block.get("signature", "")})
        elif kind == "redacted_thinking":
            thinking_blocks.append({"type": "redacted_thinking", "data": block.get("data", "")})
        elif kind == "tool_use":
            if block.get("name") == JSON_TOOL:
                texts.append(_encode(block.get("input", {})).decode())
            else:
                arguments = _encode(block.get("input", {})).decode()
                calls.append(ToolCall(id=block["id"], function=FunctionCall(name=block["name"], arguments=arguments)))
        # Server-tool blocks (web search, code execution results) have no OpenAI shape.
    content = "".join(texts) if texts or not calls else None
    if thinking_blocks:
        msg: AssistantMessage = ReasoningMessage(content=content, tool_calls=calls or None,
                                                 reasoning_content="".join(thinking) if thinking else None,
                                                 thinking_blocks=thinking_blocks)
    else:
        msg = AssistantMessage(content=content, tool_calls=calls or None)
    return ChatCompletion(
        id=message.get("id") or "msg_unknown",
        created=created if created is not None else int(time.time()),
        model=message.get("model") or model,
        choices=[Choice(index=0, message=msg, finish_reason=finish_reason(message.get("stop_reason"), bool(calls)))],  # type: ignore[arg-type]
        usage=usage_of(message.get("usage")),
    )


# --- errors ------------------------------------------------------------------------------------


def error_of(body: bytes) -> tuple[str | None, str | None]:
    """(error.type, error.message) from Anthropic's ``{"type":"error","error":{...}}`` body."""
    try:
        data = _decode(body)
    except msgspec.DecodeError:
        return None, None
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return None, None
    kind, message = err.get("type"), err.get("message")
    return (kind if isinstance(kind, str) else None), (message if isinstance(message, str) else None)


def stream_error(data: str, provider: str) -> GatewayError:
    """An ``error`` event that arrives after the stream started."""
    kind, message = error_of(data.encode())
    text = f"{provider}: {message or 'stream error'}" + (f" ({kind})" if kind else "")
    if kind == "overloaded_error":
        return ProviderError(text, status=503, code="provider_overloaded")
    if kind == "rate_limit_error":
        return GatewayError(text, status=429, type="rate_limit_error", code="rate_limit_exceeded")
    return ProviderError(text, code="upstream_error")


# --- streaming: Anthropic SSE events -> chat.completion.chunk ------------------------------------


class StreamTranslator:
    """Turns Anthropic stream events into OpenAI chunk events, one event at a time.

    One chunk id (the message id) for the whole stream; tool calls numbered 0, 1, ... in the order
    their ``tool_use`` blocks start, id and name on their first delta; exactly one finish chunk (at
    ``message_stop``); a usage chunk when asked for; then ``[DONE]``. An ``error`` event raises.
    """

    __slots__ = ("model", "include_usage", "provider", "id", "created", "usage", "stop_reason",
                 "blocks", "tool_count", "done")

    def __init__(self, model: str, include_usage: bool, provider: str = "anthropic", created: int | None = None) -> None:
        self.model = model
        self.include_usage = include_usage
        self.provider = provider
        self.id = "msg_unknown"
        self.created = created if created is not None else int(time.time())
        self.usage: dict[str, Any] = {}
        self.stop_reason: str | None = None
        self.blocks: dict[int, tuple[str, int]] = {}  # block index -> (kind, tool index)
        self.tool_count = 0
        self.done = False

    def _chunk(self, delta: Delta, finish: str | None = None) -> bytes:
        choice = ChunkChoice(index=0, delta=delta, finish_reason=finish)  # type: ignore[arg-type]
        return event(ChatCompletionChunk(id=self.id, created=self.created, model=self.model, choices=[choice]))

    def feed(self, name: str | None, data: str) -> Iterator[bytes]:
        if not data:
            return
        payload = _decode(data)
        kind = payload.get("type") or name
        if kind == "content_block_delta":
            delta = payload.get("delta") or {}
            block_kind, tool_index = self.blocks.get(payload.get("index", 0), ("text", -1))
            dtype = delta.get("type")
            if dtype == "text_delta":
                if delta.get("text"):
                    yield self._chunk(Delta(content=delta["text"]))
            elif dtype == "input_json_delta":
                part = delta.get("partial_json") or ""
                if not part:
                    return
                if block_kind == "json":
                    yield self._chunk(Delta(content=part))
                elif block_kind == "tool":
                    yield self._chunk(Delta(tool_calls=[ToolCallDelta(index=tool_index, function={"arguments": part})]))
            elif dtype == "thinking_delta":
                if delta.get("thinking"):
                    yield self._chunk(ReasoningDelta(reasoning_content=delta["thinking"]))
            # signature_delta, citations_delta: nothing in the chunk format carries them.
        elif kind == "content_block_start":
            block = payload.get("content_block") or {}
            index = payload.get("index", 0)
            btype = block.get("type")
            if btype == "tool_use" and block.get("name") == JSON_TOOL:
                self.blocks[index] = ("json", -1)
            elif btype == "tool_use":
                tool_index = self.tool_count
                self.tool_count += 1
                self.blocks[index] = ("tool", tool_index)
                first = ToolCallDelta(index=tool_index, id=block.get("id"), type="function",
                                      function={"name": block.get("name", ""), "arguments": ""})
                yield self._chunk(Delta(tool_calls=[first]))
            elif btype == "text":
                self.blocks[index] = ("text", -1)
                if block.get("text"):
                    yield self._chunk(Delta(content=block["text"]))
            elif btype == "thinking":
                self.blocks[index] = ("thinking", -1)
                if block.get("thinking"):
                    yield self._chunk(ReasoningDelta(reasoning_content=block["thinking"]))
            else:
                self.blocks[index] = ("other", -1)
        elif kind == "message_start":
            message = payload.get("message") or {}
            self.id = message.get("id") or self.id
            self.model = message.get("model") or self.model
            self.usage.update({k: v for k, v in (message.get("usage") or {}).items() if v is not None})
            yield self._chunk(Delta(role="assistant", content=""))
        elif kind == "message_delta":
            delta = payload.get("delta") or {}
            if delta.get("stop_reason"):
                self.stop_reason = delta["stop_reason"]
            # message_delta usage is cumulative; newer API versions repeat the input counts here too.
            self.usage.update({k: v for k, v in (payload.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            yield from self.finish()
        elif kind == "error":
            raise stream_error(data, self.provider)
        # ping, content_block_stop and event types added later: nothing to send.

    def finish(self) -> Iterator[bytes]:
        if self.done:
            return
        self.done = True
        reason = finish_reason(self.stop_reason or "end_turn", self.tool_count > 0)
        yield self._chunk(Delta(), reason)
        if self.include_usage:
            usage = usage_of(self.usage) or Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
            yield event(ChatCompletionChunk(id=self.id, created=self.created, model=self.model, choices=[], usage=usage))
        yield DONE
