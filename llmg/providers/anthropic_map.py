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
  When any part carries ``cache_control``, ``system`` goes as text blocks instead, each keeping its
  breakpoint; ``cache_control`` on message parts and on tools is kept too (prompt caching).
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
  them too: the chunk where a thinking block ends (``content_block_stop``, after its
  ``signature_delta``) carries ``delta.thinking_blocks`` with that block whole (text and signature),
  a ``redacted_thinking`` block comes whole in the chunk where it starts, so a client that appends
  every delta's ``thinking_blocks`` holds the same list a plain answer gives.
- Anthropic-only knobs pass through when the client sends them (``top_k``, ``thinking``, ``service_tier``).
- ``reasoning_effort`` becomes ``thinking`` with a budget (THINKING_BUDGETS). With thinking on,
  ``max_tokens`` defaults to budget + default_max_tokens, and what Anthropic forbids with thinking
  (a forced tool choice, temperature != 1, top_k, top_p < 0.95, a budget < 1024) is a clear 400
  (``claude_thinking``, shared with the Bedrock adapter).
- Whitespace-only text blocks and stop sequences are left out (Anthropic rejects them); ``user``
  becomes metadata.user_id unless it is an email address (Anthropic asks for an opaque id).
- Ignored, having no Anthropic counterpart: presence/frequency_penalty, seed, logit_bias,
  store, metadata, image ``detail``.
- A ``tool`` message whose content has image or file parts becomes a tool_result with text /
  image / document blocks (Anthropic takes images inside tool results; OpenAI's own spec does not).
- Rejected with a clear 400: ``n`` > 1 and ``logprobs`` (Anthropic has neither), unknown content
  parts, malformed tool-call arguments, a tool message without ``tool_call_id``.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from ..errors import GatewayError, InvalidRequest, ProviderError
from ..schemas.openai import (
    AssistantMessage,
    ChatCompletion,
    Choice,
    Delta,
    FinishReason,
    FunctionCall,
    ReasoningMessage,
    ToolCall,
    ToolCallDelta,
    Usage,
    cached_prompt_usage,
)
from . import anthropic_wire as wire
from .claude_thinking import check_thinking, forced_tool_refused, thinking_for_effort, thinking_on
from .content import text_of as _text_of
from .tool_features import function_tools_only
from .translate import ChunkWriter

DEFAULT_MAX_TOKENS = 4096
JSON_TOOL = "json_response"
_JSON_TOOL_DESCRIPTION = "Respond to the user with a JSON value matching this schema. Always use this tool for the final answer."
_JSON_INSTRUCTION = "Respond only with a valid JSON object, with no text before or after it."
_PASS_THROUGH = ("top_k", "thinking", "service_tier")

_decode = msgspec.json.decode
_encode = msgspec.json.Encoder().encode

# https://docs.anthropic.com/en/api/handling-stop-reasons
FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


# --- request: OpenAI chat -> Anthropic Messages --------------------------------------------------


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
    # Anthropic rejects whitespace-only text blocks; they say nothing, so they are left out.
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    blocks: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        kind = part.get("type")
        here = f"{where}.content[{i}]"
        if kind == "text":
            if part.get("text", "").strip():
                blocks.append(_cached({"type": "text", "text": part["text"]}, part))
        elif kind == "image_url":
            image = part.get("image_url") or {}
            url = image.get("url") if isinstance(image, dict) else None
            if not isinstance(url, str) or not url:
                raise InvalidRequest(f"{here}.image_url.url is required", param=f"{here}.image_url.url")
            blocks.append(_cached(_image_block(url, here), part))
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
    content = message.get("content")
    if isinstance(content, list) and any(isinstance(p, dict) and (p.get("type") != "text" or "cache_control" in p)
                                         for p in content):
        # A tool that returned images (a screenshot, a chart): Anthropic's tool_result takes text,
        # image and document blocks, so they stay inside the result they belong to. A part with
        # cache_control (a long tool output as a caching breakpoint) keeps its own block too.
        blocks = _content_blocks(content, where)
        if blocks:
            block["content"] = blocks
        return block
    text = _text_of(content, where)
    if text.strip():
        block["content"] = text
    return block


def _cached(block: dict[str, Any], part: Any) -> dict[str, Any]:
    """``block`` with the part's ``cache_control`` (Anthropic's prompt-caching breakpoint), if any."""
    if isinstance(part, dict) and isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def _system_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    """A system message as text blocks: one block (parts joined by newlines) unless a part carries
    ``cache_control``, in which case each part keeps its own block and breakpoint."""
    if isinstance(content, list) and any(isinstance(p, dict) and "cache_control" in p for p in content):
        _text_of(content, where)  # only text parts are allowed here
        return [_cached({"type": "text", "text": p["text"]}, p) for p in content if (p.get("text") or "").strip()]
    text = _text_of(content, where, "\n")
    return [{"type": "text", "text": text}] if text.strip() else []


def system_value(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Anthropic's ``system``: blocks when any carries cache_control, else the texts joined."""
    if any("cache_control" in b for b in blocks):
        return blocks
    return "\n\n".join(b["text"] for b in blocks)


def _messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system text blocks, Anthropic turns) with same-role runs merged."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message["role"]
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            system += _system_blocks(message.get("content"), where)
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
        if len(blocks) == 1 and blocks[0]["type"] == "text" and "cache_control" not in blocks[0]:
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
        out.append(_cached(entry, tool))  # cache_control beside "function", as LiteLLM clients send it
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


def _looks_like_email(user: str) -> bool:
    name, at, domain = user.partition("@")
    return bool(at and name and "." in domain)


def _thinking_on(body: dict[str, Any]) -> bool:
    return thinking_on(body.get("thinking"))


def _thinking(data: dict[str, Any], body: dict[str, Any], asked_max: int | None, default_max_tokens: int) -> None:
    """``thinking`` (as sent, or from ``reasoning_effort``) and the rules Anthropic sets with it
    (``claude_thinking``): ``max_tokens`` above the budget, a budget of at least 1024,
    temperature 1, no top_k, top_p >= 0.95."""
    if "thinking" not in body:
        thinking = thinking_for_effort(data.get("reasoning_effort"), asked_max, "anthropic")
        if thinking is not None:
            body["thinking"] = thinking
    if not _thinking_on(body):
        return
    budget = check_thinking(body["thinking"], asked_max, body, "anthropic")
    if asked_max is None:
        body["max_tokens"] = budget + default_max_tokens  # room for the answer after the thinking


def _json_schema(fmt: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        return spec.get("schema") or {"type": "object"}, spec.get("description")
    return {"type": "object"}, None


def to_anthropic(data: dict[str, Any], model: str, default_max_tokens: int = DEFAULT_MAX_TOKENS) -> dict[str, Any]:
    """The client's (already validated) chat request -> an Anthropic Messages request body."""
    data = function_tools_only(data)
    if (data.get("n") or 1) > 1:
        raise InvalidRequest("anthropic does not support n > 1", param="n", code="unsupported_parameter")
    if data.get("logprobs"):
        raise InvalidRequest("anthropic does not return logprobs", param="logprobs", code="unsupported_parameter")
    system, turns = _messages(data["messages"])
    body: dict[str, Any] = {"model": model, "messages": turns}
    asked_max = data.get("max_completion_tokens") or data.get("max_tokens")
    body["max_tokens"] = asked_max or default_max_tokens
    for key in ("temperature", "top_p"):
        if data.get(key) is not None:
            body[key] = data[key]
    stop = data.get("stop")
    if stop:
        # Anthropic rejects whitespace-only stop sequences; they would never match text anyway.
        sequences = [s for s in ([stop] if isinstance(stop, str) else stop) if s.strip()]
        if sequences:
            body["stop_sequences"] = sequences
    user = data.get("user")
    if user and not _looks_like_email(user):  # Anthropic asks for an opaque id, never an email address
        body["metadata"] = {"user_id": user}
    for key in _PASS_THROUGH:
        if data.get(key) is not None:
            body[key] = data[key]
    _thinking(data, body, asked_max, default_max_tokens)

    tools = _tools(data["tools"]) if data.get("tools") else []
    choice = _tool_choice(data.get("tool_choice")) if tools else None
    if choice is not None and choice["type"] in ("any", "tool") and _thinking_on(body):
        raise forced_tool_refused("anthropic")

    fmt = data.get("response_format") or {}
    if fmt.get("type") in ("json_object", "json_schema"):
        thinking = isinstance(body.get("thinking"), dict) and body["thinking"].get("type") == "enabled"
        schema, description = _json_schema(fmt)
        clash = any(t["name"] == JSON_TOOL for t in tools)
        if thinking or clash or schema.get("type") != "object":
            instruction = _JSON_INSTRUCTION
            if fmt.get("type") == "json_schema":
                instruction = "Respond only with valid JSON matching this JSON schema, with no text before or after it: " + _encode(schema).decode()
            system.append({"type": "text", "text": instruction})
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
        body["system"] = system_value(system)
    if data.get("stream"):
        body["stream"] = True
    return body


# --- response: Anthropic Message -> OpenAI chat.completion ---------------------------------------


def usage_of(usage: wire.Usage | None) -> Usage | None:
    if usage is None:
        return None
    return cached_prompt_usage(
        usage.input_tokens or 0,
        usage.output_tokens or 0,
        cache_read=usage.cache_read_input_tokens or 0,
        cache_write=usage.cache_creation_input_tokens or 0,
    )


def finish_reason(stop_reason: str | None, tool_called: bool) -> FinishReason | None:
    if stop_reason is None:
        return None
    if stop_reason == "tool_use" and not tool_called:
        return "stop"  # only the JSON-mode tool answered: to the client that is a plain answer
    return FINISH_REASONS.get(stop_reason, "stop")


def from_anthropic(message: wire.Message, model: str, created: int | None = None) -> ChatCompletion:
    texts: list[str] = []
    thinking: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    calls: list[ToolCall] = []
    for block in message.content:
        kind = block.type
        if kind == "text":
            texts.append(block.text or "")
        elif kind == "thinking":
            thinking.append(block.thinking or "")
            thinking_blocks.append({"type": "thinking", "thinking": block.thinking or "", "signature": block.signature or ""})
        elif kind == "redacted_thinking":
            thinking_blocks.append({"type": "redacted_thinking", "data": block.data or ""})
        elif kind == "tool_use":
            if block.name == JSON_TOOL:
                texts.append(_encode(block.input).decode())
            else:
                arguments = _encode(block.input).decode()
                calls.append(ToolCall(id=block.id or "", function=FunctionCall(name=block.name or "", arguments=arguments)))
        # Server-tool blocks (web search, code execution results) have no OpenAI shape.
    content = "".join(texts) if texts or not calls else None
    if thinking_blocks:
        msg: AssistantMessage = ReasoningMessage(content=content, tool_calls=calls or None,
                                                 reasoning_content="".join(thinking) if thinking else None,
                                                 thinking_blocks=thinking_blocks)
    else:
        msg = AssistantMessage(content=content, tool_calls=calls or None)
    return ChatCompletion(
        id=message.id or "msg_unknown",
        created=created if created is not None else int(time.time()),
        model=message.model or model,
        choices=[Choice(index=0, message=msg, finish_reason=finish_reason(message.stop_reason, bool(calls)))],
        usage=usage_of(message.usage),
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


def _merge(total: wire.Usage, more: wire.Usage | None) -> None:
    """message_delta usage is cumulative (newer API versions repeat the input counts): the latest
    value of each field that is present wins."""
    if more is None:
        return
    for name in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
        value = getattr(more, name)
        if value is not None:
            setattr(total, name, value)


class StreamTranslator:
    """Anthropic stream events (``anthropic_wire.Event``) -> OpenAI chunk events; see ``translate``.

    One chunk id (the message id) for the whole stream; tool calls numbered 0, 1, ... in the order
    their ``tool_use`` blocks start, id and name on their first delta; exactly one finish chunk (at
    ``message_stop``); a usage chunk when asked for. An ``error`` event raises.
    """

    __slots__ = ("out", "provider", "usage", "stop_reason", "blocks", "done", "_tools_called", "_thinking")

    def __init__(self, model: str, include_usage: bool, provider: str = "anthropic", created: int | None = None) -> None:
        self.out = ChunkWriter(model, include_usage, ident="msg_unknown", created=created)
        self.provider = provider
        self.usage = wire.Usage()
        self.stop_reason: str | None = None
        self.blocks: dict[int, tuple[str, int]] = {}  # block index -> (kind, tool index)
        self.done = False
        self._tools_called = False
        # Open thinking blocks: index -> (text pieces, signature pieces). The block is
        # sent whole when it stops, since Anthropic checks the signature against the exact text.
        self._thinking: dict[int, tuple[list[str], list[str]]] = {}

    def feed(self, ev: wire.Event) -> list[bytes]:
        out = self.out
        if isinstance(ev, wire.ContentBlockDelta):
            delta = ev.delta
            block_kind, tool_index = self.blocks.get(ev.index, ("text", -1))
            dtype = delta.type
            if dtype == "text_delta":
                if delta.text:
                    return [out.chunk(Delta(content=delta.text))]
            elif dtype == "input_json_delta":
                part = delta.partial_json
                if part and block_kind == "json":
                    return [out.chunk(Delta(content=part))]
                if part and block_kind == "tool":
                    return [out.tool_arguments(tool_index, part)]
            elif dtype == "thinking_delta":
                if delta.thinking:
                    held = self._thinking.get(ev.index)
                    if held is not None:
                        held[0].append(delta.thinking)
                    return [out.chunk(Delta(reasoning_content=delta.thinking))]
            elif dtype == "signature_delta":
                held = self._thinking.get(ev.index)
                if delta.signature and held is not None:
                    held[1].append(delta.signature)
            # citations_delta: nothing in the chunk format carries it.
            return []
        if isinstance(ev, wire.ContentBlockStop):
            done = self._thinking.pop(ev.index, None)
            if done is None:
                return []
            signed = {"type": "thinking", "thinking": "".join(done[0]), "signature": "".join(done[1])}
            return [out.chunk(Delta(thinking_blocks=[signed]))]
        if isinstance(ev, wire.ContentBlockStart):
            block = ev.content_block
            btype = block.type
            if btype == "tool_use" and block.name == JSON_TOOL:
                self.blocks[ev.index] = ("json", -1)
            elif btype == "tool_use":
                tool_index, _ = out.tool_index(ev.index)
                self._tools_called = True
                self.blocks[ev.index] = ("tool", tool_index)
                first = ToolCallDelta(index=tool_index, id=block.id, type="function",
                                      function={"name": block.name or "", "arguments": ""})
                return [out.chunk(Delta(tool_calls=[first]))]
            elif btype == "text":
                self.blocks[ev.index] = ("text", -1)
                if block.text:
                    return [out.chunk(Delta(content=block.text))]
            elif btype == "thinking":
                self.blocks[ev.index] = ("thinking", -1)
                self._thinking[ev.index] = ([block.thinking] if block.thinking else [],
                                            [block.signature] if block.signature else [])
                if block.thinking:
                    return [out.chunk(Delta(reasoning_content=block.thinking))]
            elif btype == "redacted_thinking":  # arrives whole in its start event
                self.blocks[ev.index] = ("other", -1)
                return [out.chunk(Delta(thinking_blocks=[{"type": "redacted_thinking", "data": block.data or ""}]))]
            else:
                self.blocks[ev.index] = ("other", -1)
            return []
        if isinstance(ev, wire.MessageStart):
            message = ev.message
            out.id = message.id or out.id
            out.model = message.model or out.model
            _merge(self.usage, message.usage)
            return [out.chunk(Delta(role="assistant", content=""))]
        if isinstance(ev, wire.MessageDelta):
            if ev.delta.stop_reason:
                self.stop_reason = ev.delta.stop_reason
            _merge(self.usage, ev.usage)
        elif isinstance(ev, wire.MessageStop):
            self.done = True
        # ping: nothing to send. (error events are raised by the adapter.)
        return []

    def close(self) -> list[bytes]:
        if not self.done:
            raise ProviderError(f"{self.provider}: the stream ended before message_stop", code="stream_error")
        reason = finish_reason(self.stop_reason or "end_turn", self._tools_called)
        return [*self.out.empty_arguments(), self.out.chunk(Delta(), reason), *self.out.usage(usage_of(self.usage))]
