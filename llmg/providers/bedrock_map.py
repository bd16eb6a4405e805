"""OpenAI chat <-> Amazon Bedrock Converse: the translation tables, as pure functions (no I/O).

Checked against the Bedrock Runtime API reference (and the service model AWS publishes with its SDKs):
  Converse          https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html
  ConverseStream    https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html
  stream events     https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStreamOutput.html
  content blocks    https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ContentBlock.html
  tool use          https://docs.aws.amazon.com/bedrock/latest/userguide/tool-use-inference-call.html
  stop reasons      https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_MessageStopEvent.html
  errors            https://docs.aws.amazon.com/bedrock/latest/userguide/troubleshooting-api-error-codes.html

Choices this module makes:
- system/developer messages, wherever they appear, become ``system`` text blocks, in order.
- Converse wants user/assistant turns to alternate: consecutive messages of one role are merged,
  so consecutive ``tool`` results land in ONE user message (toolResult blocks, in order).
- A tool result whose content is a JSON object is sent as a ``json`` block, anything else as ``text``.
- Images must be inline (``data:image/png|jpeg|gif|webp;base64,...``): Converse takes image bytes
  or an S3 location, never an http(s) URL, so a URL gets a clear 400 instead of a silent drop.
- ``tool_choice``: auto -> ``{auto:{}}``, required -> ``{any:{}}``, a named function -> ``{tool:{name}}``.
  Converse has no "none": with ``none`` the tools are left out, unless the history already holds
  tool calls (Converse then requires ``toolConfig``), in which case they are sent without a choice.
- ``response_format`` json_schema -> ``outputConfig.textFormat`` (Converse structured output);
  ``json_object`` is the same with the schema ``{"type": "object"}``. ``top_k`` and Claude's
  ``thinking`` (as sent, or from ``reasoning_effort``) go in ``additionalModelRequestFields``.
- usage: ``prompt_tokens`` = inputTokens + cacheReadInputTokens + cacheWriteInputTokens (OpenAI's
  prompt count includes cached tokens; Converse's inputTokens does not, as for Anthropic),
  ``cached_tokens`` = cacheReadInputTokens; total = prompt + completion.
- ``reasoningContent`` goes to ``reasoning_content`` (message and stream delta), never ``content``.
- Rejected with a clear 400: ``n`` > 1, ``logprobs``, http image URLs, non-image/non-document
  parts, malformed tool-call arguments, a tool message without ``tool_call_id``, legacy
  ``function`` messages. Sampling knobs Converse does not have (penalties, seed, logit_bias) are
  not sent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import msgspec

from ..errors import GatewayError, InvalidRequest, ProviderError, from_upstream, redact
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
from .content import text_of as _text_of
from .tool_features import function_tools_only
from .translate import ChunkWriter

_decode = msgspec.json.decode
_encode = msgspec.json.Encoder().encode

FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    # malformed_model_output / malformed_tool_use: the model stopped on its own; nothing better fits.
}

IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}

# Streamed exceptions (`:message-type` exception) and their HTTP statuses, from the
# ConverseStreamOutput reference.
# modelStreamErrorException is 424 there; a model failure is the provider's, so it maps like a 5xx.
STREAM_EXCEPTIONS = {
    "internalServerException": 500,
    "modelStreamErrorException": 502,
    "validationException": 400,
    "throttlingException": 429,
    "serviceUnavailableException": 503,
}


# --- request: OpenAI chat -> Converse ------------------------------------------------------------


def _data_url(url: str, where: str) -> tuple[str, str]:
    """(media type, base64 data) of a ``data:<type>;base64,<data>`` URL."""
    header, sep, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if not sep or encoding.lower() != "base64" or not media_type or not data:
        raise InvalidRequest(f"{where}: data URLs must look like data:<media type>;base64,<data>", param=where)
    return media_type.lower(), data


def image_block(url: str, where: str) -> dict[str, Any]:
    if not url.startswith("data:"):
        raise InvalidRequest(
            f"{where}: bedrock's Converse API does not fetch image URLs; send the image inline as a "
            "data:image/<png|jpeg|gif|webp>;base64,... URL",
            param=where,
            code="unsupported_image_url",
        )
    media_type, data = _data_url(url, where)
    fmt = IMAGE_FORMATS.get(media_type)
    if fmt is None:
        raise InvalidRequest(f"{where}: image type {media_type!r} is not supported (png, jpeg, gif, webp)", param=where)
    # In Converse's JSON wire format a blob is its base64 text: the client's data passes through as is.
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _document_block(part: dict[str, Any], where: str, index: int) -> dict[str, Any]:
    file = part.get("file") or {}
    data = file.get("file_data")
    if not isinstance(data, str) or not data.startswith("data:"):
        raise InvalidRequest(f"{where}: only inline file_data (a data: URL) can be sent to bedrock", param=where)
    media_type, payload = _data_url(data, where)
    if media_type in IMAGE_FORMATS:
        return image_block(data, where)
    fmt = DOCUMENT_FORMATS.get(media_type)
    if fmt is None:
        raise InvalidRequest(f"{where}: file type {media_type!r} is not supported by Converse", param=where)
    # Document names allow letters, digits, single spaces, hyphens, parentheses and brackets only.
    raw_name = str(file.get("filename") or f"document {index + 1}").rsplit(".", 1)[0]
    name = " ".join("".join(c if c.isalnum() or c in " -()[]" else " " for c in raw_name).split()) or f"document {index + 1}"
    return {"document": {"format": fmt, "name": name[:200], "source": {"bytes": payload}}}


def _content_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        # Converse rejects blank text blocks ("The text field in the ContentBlock object ... is blank").
        return [{"text": content}] if content.strip() else []
    blocks: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        here = f"{where}.content[{i}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            text = part.get("text") or ""
            if text.strip():
                blocks.append({"text": text})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise InvalidRequest(f"{here}: image_url.url is required", param=here)
            blocks.append(image_block(url, here))
        elif kind == "file":
            blocks.append(_document_block(part, here, i))
        else:
            raise InvalidRequest(f"{here}: content part type {kind!r} is not supported by bedrock", param=here)
    return blocks


def _tool_use_blocks(tool_calls: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    blocks = []
    for i, call in enumerate(tool_calls):
        here = f"{where}.tool_calls[{i}]"
        function = call.get("function") or {}
        arguments = function.get("arguments") or ""
        try:
            parsed = _decode(arguments) if arguments.strip() else {}
        except msgspec.DecodeError:
            raise InvalidRequest(f"{here}.function.arguments is not valid JSON", param=f"{here}.function.arguments") from None
        if not isinstance(parsed, dict):
            raise InvalidRequest(f"{here}.function.arguments must be a JSON object", param=f"{here}.function.arguments")
        blocks.append({"toolUse": {"toolUseId": call.get("id") or "", "name": function.get("name") or "", "input": parsed}})
    return blocks


def _tool_result_block(message: dict[str, Any], where: str) -> dict[str, Any]:
    tool_call_id = message.get("tool_call_id")
    if not tool_call_id:
        raise InvalidRequest(f"{where}: a tool message needs tool_call_id", param=f"{where}.tool_call_id")
    text = _text_of(message.get("content"), where)
    block: dict[str, Any]
    parsed: Any = None
    if text.lstrip().startswith("{"):
        try:
            parsed = _decode(text)
        except msgspec.DecodeError:
            parsed = None
    if isinstance(parsed, dict):
        block = {"json": parsed}
    else:
        # Converse rejects a blank text block, an empty tool output is still an answer.
        block = {"text": text if text.strip() else "(empty)"}
    return {"toolResult": {"toolUseId": tool_call_id, "content": [block]}}


def _messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """(system blocks, Converse messages, whether any tool block occurs)."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    uses_tools = False
    for i, message in enumerate(messages):
        role = message.get("role")
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            text = _text_of(message.get("content"), where)
            if text.strip():
                system.append({"text": text})
            continue
        if role == "user":
            blocks = _content_blocks(message.get("content"), where)
            turn_role = "user"
        elif role == "assistant":
            blocks = _content_blocks(message.get("content"), where)
            if message.get("tool_calls"):
                blocks += _tool_use_blocks(message["tool_calls"], where)
                uses_tools = True
            turn_role = "assistant"
        elif role == "tool":
            blocks = [_tool_result_block(message, where)]
            uses_tools = True
            turn_role = "user"
        else:
            raise InvalidRequest(f"{where}: role {role!r} is not supported by bedrock; use tool_calls and tool messages",
                                 param=f"{where}.role")
        if not blocks:
            continue  # an empty turn (e.g. an assistant message with no text) carries nothing
        if turns and turns[-1]["role"] == turn_role:
            previous = turns[-1]["content"]
            # Tool results must come first in their user turn (Anthropic models on Bedrock insist).
            if turn_role == "user" and "toolResult" in blocks[0]:
                split = next((n for n, b in enumerate(previous) if "toolResult" not in b), len(previous))
                previous[split:split] = blocks
            else:
                previous.extend(blocks)
        else:
            turns.append({"role": turn_role, "content": blocks})
    return system, turns, uses_tools


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    specs = []
    for tool in tools:
        function = tool.get("function") or {}
        spec: dict[str, Any] = {
            "name": function.get("name"),
            "inputSchema": {"json": function.get("parameters") or {"type": "object", "properties": {}}},
        }
        if function.get("description"):
            spec["description"] = function["description"]
        specs.append({"toolSpec": spec})
    return specs


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice == "auto":
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name:
            return {"tool": {"name": name}}
    return None


def _output_config(fmt: Any) -> dict[str, Any] | None:
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_object":
        # JSON mode is structured output with the loosest schema: any JSON object.
        fmt = {"type": "json_schema", "json_schema": {"name": "json_object", "schema": {"type": "object"}}}
    spec = fmt.get("json_schema") or {}
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise InvalidRequest("response_format.json_schema.schema is required for bedrock", param="response_format")
    definition: dict[str, Any] = {"schema": _encode(schema).decode()}
    if spec.get("name"):
        definition["name"] = spec["name"]
    if spec.get("description"):
        definition["description"] = spec["description"]
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}


# reasoning_effort -> Claude's thinking budget (the Anthropic adapter's table; 1024 is the minimum).
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}
_ANSWER_ROOM = 4096  # maxTokens above the budget when the client set none


def _is_claude(model: str) -> bool:
    return "anthropic." in model  # anthropic.claude-..., us.anthropic.claude-..., inference-profile ARNs


def _additional_fields(data: Mapping[str, Any], model: str, inference: dict[str, Any]) -> dict[str, Any]:
    """What Converse has no field for goes in ``additionalModelRequestFields``, in the model's own
    words: ``top_k``; Claude's ``thinking`` (as sent, or from ``reasoning_effort``), with
    ``maxTokens`` kept above its budget as Anthropic requires."""
    extra: dict[str, Any] = {}
    if data.get("top_k") is not None:
        extra["top_k"] = data["top_k"]
    thinking = data.get("thinking")
    effort = data.get("reasoning_effort")
    if thinking is None and effort not in (None, "none"):
        if not _is_claude(model):
            raise InvalidRequest(f"bedrock: reasoning_effort is only mapped for Claude models, not {model}",
                                 param="reasoning_effort", code="unsupported_parameter")
        if effort not in THINKING_BUDGETS:
            raise InvalidRequest(f"reasoning_effort must be one of none, {', '.join(THINKING_BUDGETS)}",
                                 param="reasoning_effort", code="invalid_value")
        budget = THINKING_BUDGETS[effort]
        if inference.get("maxTokens"):
            budget = min(budget, inference["maxTokens"] - 1)
            if budget < 1024:
                raise InvalidRequest("bedrock: Claude needs max_tokens above 1024 for reasoning_effort",
                                     param="max_tokens", code="invalid_value")
        thinking = {"type": "enabled", "budget_tokens": budget}
    if isinstance(thinking, dict):
        extra["thinking"] = thinking
        given = thinking.get("budget_tokens")
        if thinking.get("type") == "enabled" and isinstance(given, int) and not inference.get("maxTokens"):
            inference["maxTokens"] = given + _ANSWER_ROOM
    return extra


def to_converse(data: Mapping[str, Any], model: str = "") -> dict[str, Any]:
    """The Converse/ConverseStream request body for an OpenAI chat request (the model goes in the URL)."""
    data = function_tools_only(dict(data))
    if (data.get("n") or 1) > 1:
        raise InvalidRequest("bedrock returns one choice per request; n must be 1", param="n")
    if data.get("logprobs"):
        raise InvalidRequest("bedrock does not return logprobs", param="logprobs")
    system, messages, uses_tools = _messages(data["messages"])
    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = system
    inference: dict[str, Any] = {}
    max_tokens = data.get("max_completion_tokens") or data.get("max_tokens")
    if max_tokens:
        inference["maxTokens"] = max_tokens
    if data.get("temperature") is not None:
        inference["temperature"] = data["temperature"]
    if data.get("top_p") is not None:
        inference["topP"] = data["top_p"]
    stop = data.get("stop")
    if stop:
        inference["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    extra = _additional_fields(data, model, inference)
    if extra:
        body["additionalModelRequestFields"] = extra
    if inference:
        body["inferenceConfig"] = inference
    tools = data.get("tools")
    choice = data.get("tool_choice")
    if tools and (choice != "none" or uses_tools):
        config: dict[str, Any] = {"tools": _tools(tools)}
        mapped = _tool_choice(choice)
        if mapped is not None:
            config["toolChoice"] = mapped
        body["toolConfig"] = config
    output = _output_config(data.get("response_format"))
    if output is not None:
        body["outputConfig"] = output
    return body


# --- response: Converse -> chat.completion --------------------------------------------------------


def usage_of(usage: Mapping[str, Any] | None) -> Usage | None:
    if not usage:
        return None
    return cached_prompt_usage(
        usage.get("inputTokens") or 0,
        usage.get("outputTokens") or 0,
        cache_read=usage.get("cacheReadInputTokens"),
        cache_write=usage.get("cacheWriteInputTokens") or 0,
    )


def finish_reason(stop_reason: str | None) -> FinishReason:
    return FINISH_REASONS.get(stop_reason or "end_turn", "stop")


def from_converse(body: Mapping[str, Any], model: str, ident: str, created: int | None = None) -> ChatCompletion:
    message = (body.get("output") or {}).get("message") or {}
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    for block in message.get("content") or []:
        if "text" in block:
            texts.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            arguments = _encode(use.get("input", {})).decode()
            calls.append(ToolCall(id=use.get("toolUseId", ""), function=FunctionCall(name=use.get("name", ""), arguments=arguments)))
        elif "reasoningContent" in block:
            text = ((block["reasoningContent"] or {}).get("reasoningText") or {}).get("text")
            if text:
                reasoning.append(text)
        # redacted reasoning, citations, images, documents: no OpenAI chat shape carries them.
    content = "".join(texts) if texts or not calls else None
    msg: AssistantMessage
    if reasoning:
        msg = ReasoningMessage(content=content, tool_calls=calls or None, reasoning_content="".join(reasoning))
    else:
        msg = AssistantMessage(content=content, tool_calls=calls or None)
    return ChatCompletion(
        id=ident,
        created=created if created is not None else int(time.time()),
        model=model,
        choices=[Choice(index=0, message=msg, finish_reason=finish_reason(body.get("stopReason")))],
        usage=usage_of(body.get("usage")),
    )


# --- errors ------------------------------------------------------------------------------------


def error_of(body: bytes, headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(error type, message) of a Bedrock error: ``x-amzn-ErrorType`` (``Name:namespace``) and the
    body's ``message`` (``Message`` in some services, ``__type`` when the header is missing)."""
    kind = headers.get("x-amzn-errortype") or headers.get("x-amzn-ErrorType")
    message = None
    try:
        data = _decode(body)
    except msgspec.DecodeError:
        data = None
    if isinstance(data, dict):
        for key in ("message", "Message"):
            if isinstance(data.get(key), str):
                message = data[key]
                break
        if not kind and isinstance(data.get("__type"), str):
            kind = data["__type"].rsplit("#", 1)[-1]
    if kind:
        kind = kind.split(":", 1)[0]
    return kind or None, message


def describe(kind: str | None, message: str | None) -> str | None:
    if kind and message:
        return f"{kind}: {message}"
    return message or kind


def stream_exception(headers: Mapping[str, Any], payload: bytes, provider: str, secrets: tuple[str, ...]) -> GatewayError:
    """An exception message inside the event stream (after the answer started)."""
    kind = headers.get(":exception-type") or headers.get(":error-code")
    _, message = error_of(payload, {})
    message = message or headers.get(":error-message")
    status = STREAM_EXCEPTIONS.get(str(kind), 502)
    name = str(kind) if kind else "stream error"
    if status >= 500:
        text = f"{provider}: upstream error in stream ({name})" + (f": {message}" if message else "")
        return ProviderError(redact(text, secrets), code="upstream_error")
    return from_upstream(status, payload, {}, provider=provider, secrets=secrets,
                         message=f"{name[:1].upper()}{name[1:]}" + (f": {message}" if message else ""))


# --- streaming: Converse stream events -> chat.completion.chunk ----------------------------------


class StreamTranslator:
    """Decoded ConverseStream events ``(event type, payload)`` -> OpenAI chunk events; the contract
    is ``translate``'s.

    One chunk id for the whole stream; tool calls numbered 0, 1, ... in the order their toolUse
    blocks start, id and name on their first delta; exactly one finish chunk (at ``messageStop``);
    a usage chunk (from ``metadata``, which follows ``messageStop``) when asked for.
    """

    __slots__ = ("out", "provider", "usage", "stopped", "done")

    def __init__(self, model: str, ident: str, include_usage: bool, created: int | None = None,
                 provider: str = "bedrock") -> None:
        self.out = ChunkWriter(model, include_usage, ident=ident, created=created)
        self.provider = provider
        self.usage: dict[str, Any] | None = None
        self.stopped = False
        self.done = False  # metadata (usage) follows messageStop: read to the end of the body

    def feed(self, item: tuple[str, Mapping[str, Any]]) -> list[bytes]:
        kind, payload = item
        out = self.out
        if kind == "contentBlockDelta":
            delta = payload.get("delta") or {}
            if "text" in delta:
                if delta["text"]:
                    return [out.chunk(Delta(content=delta["text"]))]
            elif "toolUse" in delta:
                part = (delta["toolUse"] or {}).get("input") or ""
                index, new = out.tool_index(payload.get("contentBlockIndex", 0))
                chunks = []
                if new:  # no contentBlockStart seen: still announce the call before its arguments
                    chunks.append(out.chunk(Delta(tool_calls=[ToolCallDelta(index=index, type="function", function={"name": "", "arguments": ""})])))
                if part:
                    chunks.append(out.tool_arguments(index, part))
                return chunks
            elif "reasoningContent" in delta:
                text = (delta["reasoningContent"] or {}).get("text")
                if text:
                    return [out.chunk(Delta(reasoning_content=text))]
                # signature / redactedContent: nothing in the chunk format carries them.
        elif kind == "contentBlockStart":
            start = payload.get("start") or {}
            use = start.get("toolUse")
            if use:
                index, _ = out.tool_index(payload.get("contentBlockIndex", 0))
                first = ToolCallDelta(index=index, id=use.get("toolUseId"), type="function",
                                      function={"name": use.get("name", ""), "arguments": ""})
                return [out.chunk(Delta(tool_calls=[first]))]
        elif kind == "messageStart":
            return [out.chunk(Delta(role=payload.get("role") or "assistant", content=""))]
        elif kind == "messageStop":
            if not self.stopped:
                self.stopped = True
                return [*out.empty_arguments(), out.chunk(Delta(), finish_reason(payload.get("stopReason")))]
        elif kind == "metadata":
            self.usage = payload.get("usage") or {}
        # contentBlockStop and event types added later: nothing to send.
        return []

    def close(self) -> list[bytes]:
        """After the upstream body ended: the usage chunk (if asked for)."""
        if not self.stopped:
            raise ProviderError(f"{self.provider}: the stream ended before messageStop", code="stream_error")
        if self.usage is None:
            return []
        return self.out.usage(usage_of(self.usage) or Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0))
