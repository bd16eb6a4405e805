"""Anthropic Messages in, any provider out: request -> internal chat body, answer/stream -> Messages.

Mapping (https://docs.anthropic.com/en/api/messages; the reverse of ``providers/anthropic_map``):
- ``system`` (string or text blocks) -> one system message first.
- user turns: ``tool_result`` blocks -> ``tool`` messages (ahead of the turn's other content, as
  OpenAI wants each result right after the assistant's calls), their text only: OpenAI's tool
  messages take no images, so a result's images open the user message that follows the results
  (the native Anthropic path keeps them inside the tool_result); text / image (base64 -> data URL)
  / document (PDF -> a ``file`` part, plain text -> text) -> the user message's content parts.
- assistant turns: text -> content, ``tool_use`` -> ``tool_calls`` (input as JSON text). Thinking
  blocks are Anthropic's own (signed); another provider cannot use them, so they are dropped.
- tools -> function tools; tool_choice auto/any/tool/none -> auto/required/{function}/none, and
  ``disable_parallel_tool_use`` -> ``parallel_tool_calls: false``.
- ``stop_sequences`` -> ``stop``; ``metadata.user_id`` -> ``user``; ``thinking`` enabled ->
  ``reasoning_effort`` by budget (< 4096 low, < 16384 medium, else high); ``top_k`` has no chat
  equivalent and is dropped.
Answers: ``reasoning_content`` -> a thinking block, text -> a text block, tool calls -> tool_use
blocks; finish_reason stop/length/tool_calls/content_filter -> end_turn/max_tokens/tool_use/refusal.
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

from ..errors import GatewayError
from ..schemas.anthropic import (
    AnthropicErrorBody,
    AnthropicErrorResponse,
    DocumentBlock,
    ImageBlock,
    MessageResponse,
    MessagesRequest,
    MessagesUsage,
    TextBlock,
    TextOut,
    ThinkingEnabled,
    ThinkingOut,
    ToolChoiceAny,
    ToolChoiceAuto,
    ToolChoiceNone,
    ToolChoiceTool,
    ToolResultBlock,
    ToolUseBlock,
    ToolUseOut,
    URLImageSource,
)
from .sse import named_event

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                "content_filter": "refusal"}

# --- errors ---------------------------------------------------------------------------------------

# https://docs.anthropic.com/en/api/errors: the error type the SDKs expect for each status.
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                503: "overloaded_error", 529: "overloaded_error"}


def error_type(status: int) -> str:
    if status in _ERROR_TYPES:
        return _ERROR_TYPES[status]
    return "invalid_request_error" if status < 500 else "api_error"


def error_body(exc: GatewayError) -> bytes:
    """The gateway's error in Anthropic's shape; the status stays the gateway's."""
    return _encode(AnthropicErrorResponse(error=AnthropicErrorBody(type=error_type(exc.status), message=exc.message)))


def error_event(exc: GatewayError) -> bytes:
    return b"event: error\ndata: " + error_body(exc) + b"\n\n"


def is_anthropic_route(path: str) -> bool:
    return path == "/v1/messages" or path.startswith("/v1/messages/")


# --- request --------------------------------------------------------------------------------------


def _image_part(block: ImageBlock) -> dict[str, Any]:
    source = block.source
    url = source.url if isinstance(source, URLImageSource) else f"data:{source.media_type};base64,{source.data}"
    return {"type": "image_url", "image_url": {"url": url}}


def _document_part(block: DocumentBlock) -> dict[str, Any]:
    source = block.source
    if source.type == "text":
        return {"type": "text", "text": source.data or ""}
    if source.type == "url":
        return {"type": "file", "file": {"file_data": source.url or "", "filename": block.title or "document.pdf"}}
    media = source.media_type or "application/pdf"
    return {"type": "file", "file": {"file_data": f"data:{media};base64,{source.data or ''}",
                                     "filename": block.title or "document.pdf"}}


def _result_content(block: ToolResultBlock) -> tuple[str, list[dict[str, Any]]]:
    """(the result's text, its images as image_url parts). OpenAI's tool messages take text only
    ("Image URLs are only allowed for messages with role 'user'"), so the images travel apart."""
    content = block.content
    images: list[dict[str, Any]] = []
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        text = "\n".join(part.text for part in content if isinstance(part, TextBlock))
        images = [_image_part(part) for part in content if isinstance(part, ImageBlock)]
    if block.is_error:
        text = f"Error: {text}" if text else "Error"
    return text, images


def _user_messages(blocks: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, ToolResultBlock):
            text, images = _result_content(block)
            out.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": text})
            parts += images  # a tool's images (a screenshot, a chart) open the user message after the results
        elif isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            parts.append(_image_part(block))
        elif isinstance(block, DocumentBlock):
            parts.append(_document_part(block))
        elif isinstance(block, ToolUseBlock):  # misplaced; the provider decides whether it is valid
            out.append(_assistant_message([block]))
        # thinking blocks in a user turn carry nothing another provider can use
    if parts or not out:
        out.append({"role": "user", "content": parts})
    return out


def _assistant_message(blocks: list[Any]) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ToolUseBlock):
            calls.append({"id": block.id, "type": "function",
                          "function": {"name": block.name, "arguments": _encode(block.input).decode()}})
        elif isinstance(block, ToolResultBlock):
            texts.append(_result_content(block)[0])
        # thinking / redacted_thinking: signed by Anthropic, meaningless elsewhere
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _effort(thinking: ThinkingEnabled) -> str:
    budget = thinking.budget_tokens
    return "low" if budget < 4096 else "medium" if budget < 16384 else "high"


def to_chat(req: MessagesRequest, model: str) -> dict[str, Any]:
    """The internal OpenAI chat body for a Messages request (``model`` as the client wrote it)."""
    messages: list[dict[str, Any]] = []
    if req.system:
        system = req.system if isinstance(req.system, str) else "\n\n".join(b.text for b in req.system)
        messages.append({"role": "system", "content": system})
    for message in req.messages:
        content = message.content
        if message.role == "user":
            if isinstance(content, str):
                messages.append({"role": "user", "content": content})
            else:
                messages.extend(_user_messages(content))
        else:
            blocks = [TextBlock(text=content)] if isinstance(content, str) else content
            messages.append(_assistant_message(blocks))
    body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": req.max_tokens}
    for name in ("temperature", "top_p"):
        value = getattr(req, name)
        if value is not None:
            body[name] = value
    if req.stop_sequences:
        body["stop"] = req.stop_sequences
    if req.metadata and req.metadata.user_id:
        body["user"] = req.metadata.user_id
    if isinstance(req.thinking, ThinkingEnabled):
        body["reasoning_effort"] = _effort(req.thinking)
    if req.tools:
        body["tools"] = [
            {"type": "function", "function": {"name": t.name, "description": t.description or "", "parameters": t.input_schema}}
            for t in req.tools
        ]
    choice = req.tool_choice
    if choice is not None and req.tools:
        if isinstance(choice, ToolChoiceAuto):
            body["tool_choice"] = "auto"
        elif isinstance(choice, ToolChoiceAny):
            body["tool_choice"] = "required"
        elif isinstance(choice, ToolChoiceTool):
            body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
        elif isinstance(choice, ToolChoiceNone):
            body["tool_choice"] = "none"
        if getattr(choice, "disable_parallel_tool_use", None):
            body["parallel_tool_calls"] = False
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


# --- answer ---------------------------------------------------------------------------------------


def message_id(chat_id: object) -> str:
    if isinstance(chat_id, str) and chat_id:
        return "msg_" + chat_id.removeprefix("chatcmpl-").removeprefix("chatcmpl_")
    return "msg_" + secrets.token_hex(12)


def _tool_input(arguments: object) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    try:
        value = _decode(arguments) if isinstance(arguments, (str, bytes)) and arguments else {}
    except msgspec.DecodeError:
        return {"_raw": arguments}  # keep what the model produced rather than losing it
    return value if isinstance(value, dict) else {"value": value}


def usage_of(usage: object) -> MessagesUsage:
    if not isinstance(usage, dict):
        return MessagesUsage(input_tokens=0, output_tokens=0)
    prompt = int(usage.get("prompt_tokens") or 0)
    details = usage.get("prompt_tokens_details")
    cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    return MessagesUsage(
        input_tokens=max(prompt - cached, 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        cache_read_input_tokens=cached,
    )


def from_chat(answer: dict[str, Any], model: str) -> MessageResponse:
    choices = answer.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    content: list[Any] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        content.append(ThinkingOut(thinking=reasoning))
    text = message.get("content")
    if isinstance(text, str) and text:
        content.append(TextOut(text=text))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append(ToolUseOut(id=call.get("id") or "toolu_" + secrets.token_hex(12), name=function.get("name", ""),
                                  input=_tool_input(function.get("arguments"))))
    reason = STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn")
    if reason == "end_turn" and any(isinstance(b, ToolUseOut) for b in content):
        reason = "tool_use"
    return MessageResponse(id=message_id(answer.get("id")), model=model, content=content, stop_reason=reason,  # type: ignore[arg-type]
                           usage=usage_of(answer.get("usage")))


# --- stream ---------------------------------------------------------------------------------------


class StreamTranslator:
    """OpenAI chat chunks -> Anthropic's event sequence: message_start, ping, then per block
    content_block_start / _delta / _stop, then message_delta (stop reason, usage) and message_stop.

    A block closes when the next kind begins (thinking -> text -> each tool call), as Anthropic's
    blocks never interleave. message_delta waits for the end of the stream, since OpenAI sends usage
    in a chunk after the one with finish_reason.
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self.started = False
        self.index = -1
        self.open: tuple[str, int] | None = None  # (kind, tool index) of the open block
        self.finish: str | None = None
        self.usage: MessagesUsage = MessagesUsage(input_tokens=0, output_tokens=0)
        self.saw_tool = False

    def _start(self, chunk: dict[str, Any]) -> list[bytes]:
        self.started = True
        start = {"type": "message_start", "message": {
            "id": message_id(chunk.get("id")), "type": "message", "role": "assistant", "model": self.model,
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}}
        return [named_event("message_start", start), named_event("ping", {"type": "ping"})]

    def _close(self) -> list[bytes]:
        if self.open is None:
            return []
        self.open = None
        return [named_event("content_block_stop", {"type": "content_block_stop", "index": self.index})]

    def _open(self, kind: str, tool: int, block: dict[str, Any]) -> list[bytes]:
        out = self._close()
        self.index += 1
        self.open = (kind, tool)
        out.append(named_event("content_block_start", {"type": "content_block_start", "index": self.index, "content_block": block}))
        return out

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return named_event("content_block_delta", {"type": "content_block_delta", "index": self.index, "delta": delta})

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        out = [] if self.started else self._start(chunk)
        if isinstance(chunk.get("usage"), dict):
            self.usage = usage_of(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                if self.open is None or self.open[0] != "thinking":
                    out += self._open("thinking", 0, {"type": "thinking", "thinking": "", "signature": ""})
                out.append(self._delta({"type": "thinking_delta", "thinking": reasoning}))
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self.open is None or self.open[0] != "text":
                    out += self._open("text", 0, {"type": "text", "text": ""})
                out.append(self._delta({"type": "text_delta", "text": text}))
            for call in delta.get("tool_calls") or []:
                tool = call.get("index", 0)
                function = call.get("function") or {}
                if self.open != ("tool", tool):
                    self.saw_tool = True
                    out += self._open("tool", tool, {"type": "tool_use", "id": call.get("id") or "toolu_" + secrets.token_hex(12),
                                                     "name": function.get("name") or "", "input": {}})
                arguments = function.get("arguments")
                if isinstance(arguments, str) and arguments:
                    out.append(self._delta({"type": "input_json_delta", "partial_json": arguments}))
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        return out

    def end(self) -> list[bytes]:
        out = [] if self.started else self._start({})
        out += self._close()
        reason = STOP_REASONS.get(self.finish or "stop", "end_turn")
        if reason == "end_turn" and self.saw_tool:
            reason = "tool_use"
        usage: dict[str, Any] = {"output_tokens": self.usage.output_tokens, "input_tokens": self.usage.input_tokens}
        if self.usage.cache_read_input_tokens:
            usage["cache_read_input_tokens"] = self.usage.cache_read_input_tokens
        out.append(named_event("message_delta", {"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None},
                                                 "usage": usage}))
        out.append(named_event("message_stop", {"type": "message_stop"}))
        return out


# --- count_tokens ---------------------------------------------------------------------------------


def estimate_tokens(data: dict[str, Any]) -> int:
    """A documented estimate for providers that cannot count: one token per 4 bytes of the
    prompt's JSON text (system, messages, tools), the usual rule of thumb for English text, plus a
    few tokens of framing per message. Images count as a flat 1600 tokens (a large image's cost)."""
    total = 0
    images = 0
    for key in ("system", "messages", "tools"):
        value = data.get(key)
        if value is None:
            continue
        text = _encode(value)
        images += text.count(b'"type":"image"')
        total += len(text) // 4
    total += 4 * len(data.get("messages") or [])
    return max(1, total + 1600 * images)

