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
- ``tool_choice``: auto -> ``{auto:{}}``, required -> ``{any:{}}``, a named function -> ``{tool:{name}}``,
  only for models that take it (``TOOL_CHOICES``): elsewhere ``auto`` is left out (it is the default)
  and a forced choice is a 400 naming the model.
  Converse has no "none": with ``none`` the tools are left out, unless the history already holds
  tool calls (Converse then requires ``toolConfig``), in which case they are sent without a choice.
- ``response_format`` json_schema -> ``outputConfig.textFormat`` (Converse structured output);
  ``json_object`` is the same with the schema ``{"type": "object"}``. ``top_k`` and Claude's
  ``thinking`` (as sent, or from ``reasoning_effort``) go in ``additionalModelRequestFields``.
  What Claude refuses with thinking on (a forced tool choice, temperature != 1, topP < 0.95,
  top_k, a budget < 1024, maxTokens not above it) is a 400 naming the conflict, from the same
  rule code as the Anthropic adapter (``claude_thinking``).
- usage: ``prompt_tokens`` = inputTokens + cacheReadInputTokens + cacheWriteInputTokens (OpenAI's
  prompt count includes cached tokens; Converse's inputTokens does not, as for Anthropic),
  ``cached_tokens`` = cacheReadInputTokens; total = prompt + completion.
- ``reasoningContent`` goes to ``reasoning_content`` (message and stream delta), never ``content``;
  the blocks also go whole to ``thinking_blocks`` (Anthropic's shape, as the Anthropic adapter gives
  them: ``{"type": "thinking", "thinking", "signature"}`` / ``{"type": "redacted_thinking", "data"}``):
  on the message, and in a stream delta once a block's signature (or redacted data) arrives. An
  assistant message's ``thinking_blocks`` are sent back as reasoningContent blocks, first in the turn.
- ``cache_control`` on a content part, a system part or a tool becomes a ``cachePoint`` block right
  after it (``ttl`` 5m/1h kept); a system message with a marked part keeps one block per part.
  Models without prompt caching (``CACHE_FAMILIES``) get no cachePoints: the marker is a hint.
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
from .claude_thinking import check_thinking, forced_tool_refused, thinking_for_effort, thinking_on
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


def cache_point(part: Any) -> dict[str, Any] | None:
    """The ``cachePoint`` block for a part's ``cache_control`` (Anthropic's breakpoint, as OpenAI-format
    clients such as LiteLLM's send it): Converse marks the end of a cached prefix with a separate
    block after the content, ``{"cachePoint": {"type": "default"}}``, optionally with ``ttl`` 5m/1h."""
    marker = part.get("cache_control") if isinstance(part, dict) else None
    if not isinstance(marker, dict):
        return None
    point: dict[str, Any] = {"type": "default"}
    if marker.get("ttl") in ("5m", "1h"):
        point["ttl"] = marker["ttl"]
    return {"cachePoint": point}


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
            if not text.strip():
                continue  # a blank part (and any breakpoint on it) carries nothing
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
        point = cache_point(part)
        if point is not None:
            blocks.append(point)
    return blocks


def _system_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    """A system message as text blocks: one, unless a part carries ``cache_control``; then each part
    keeps its block, followed by a cachePoint where it was marked."""
    if isinstance(content, list) and any(cache_point(p) for p in content):
        _text_of(content, where)  # only text parts are allowed here
        return _content_blocks(content, where)
    text = _text_of(content, where)
    return [{"text": text}] if text.strip() else []


def _reasoning_blocks(thinking: Any, where: str) -> list[dict[str, Any]]:
    """An assistant message's ``thinking_blocks`` (as the answer gave them) -> reasoningContent blocks.

    Claude on Bedrock needs the signed reasoning block back before the toolUse it led to; unsigned
    text cannot be verified and is not sent."""
    if thinking is None:
        return []
    if not isinstance(thinking, list):
        raise InvalidRequest(f"{where}.thinking_blocks must be a list", param=f"{where}.thinking_blocks")
    blocks = []
    for i, block in enumerate(thinking):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "thinking" and isinstance(block.get("signature"), str) and isinstance(block.get("thinking"), str):
            blocks.append({"reasoningContent": {"reasoningText": {"text": block["thinking"], "signature": block["signature"]}}})
        elif kind == "redacted_thinking" and isinstance(block.get("data"), str):
            blocks.append({"reasoningContent": {"redactedContent": block["data"]}})
        elif kind != "thinking":
            raise InvalidRequest(f"{where}.thinking_blocks[{i}]: expected a thinking or redacted_thinking block",
                                 param=f"{where}.thinking_blocks[{i}]")
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
            system += _system_blocks(message.get("content"), where)
            continue
        if role == "user":
            blocks = _content_blocks(message.get("content"), where)
            turn_role = "user"
        elif role == "assistant":
            blocks = _reasoning_blocks(message.get("thinking_blocks"), where)  # reasoning comes first
            blocks += _content_blocks(message.get("content"), where)
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
        point = cache_point(tool)  # cache_control beside "function": the tools up to here are cached
        if point is not None:
            specs.append(point)
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


# Which ``toolChoice`` members a model takes. The ToolChoice reference: toolChoice is supported by
# Anthropic Claude 3+ and Mistral Large; ``tool`` (one named tool) by Claude 3+ and Amazon Nova, which
# takes ``any`` too. Every other model answers "This model doesn't support the toolConfig.toolChoice.<x>
# field" (Llama, Titan, Cohere, Jamba, DeepSeek, ...), ``auto`` included.
TOOL_CHOICES: tuple[tuple[str, frozenset[str]], ...] = (
    ("anthropic.", frozenset({"auto", "any", "tool"})),
    ("amazon.nova", frozenset({"auto", "any", "tool"})),
    ("mistral.mistral-large", frozenset({"auto", "any"})),
)
# Model-id prefixes of Bedrock's model providers: an id with one of them and no TOOL_CHOICES entry
# takes no toolChoice. An id with none (a provisioned or custom model ARN) cannot be classified.
MODEL_PROVIDERS = ("ai21.", "amazon.", "anthropic.", "cohere.", "deepseek.", "google.", "meta.", "minimax.",
                   "mistral.", "moonshot.", "nvidia.", "openai.", "qwen.", "twelvelabs.", "writer.")
# Cross-region inference profiles prefix the model id with a geography.
GEOGRAPHIES = frozenset({"us", "eu", "apac", "global", "us-gov", "ca", "jp", "au"})
_CHOICE_WORDS = {"auto": '"auto"', "any": '"required"', "tool": "a named function"}


def base_model(model: str) -> str:
    """``anthropic.claude-...`` from a model id, an inference profile id or either's ARN."""
    tail = model.rsplit("/", 1)[-1]
    geo, dot, rest = tail.partition(".")
    return rest if dot and geo in GEOGRAPHIES else tail


def accepted_tool_choices(model: str) -> frozenset[str] | None:
    """The toolChoice members ``model`` takes; None when the id does not say which model it is."""
    base = base_model(model)
    for prefix, choices in TOOL_CHOICES:
        if base.startswith(prefix):
            return choices
    return frozenset() if base.startswith(MODEL_PROVIDERS) else None


def _checked_tool_choice(choice: Any, model: str) -> dict[str, Any] | None:
    """The toolChoice to send: ``auto`` (the default anyway) is left out for a model that refuses
    the field; a forced choice it cannot take is a 400 naming both, not Bedrock's ValidationException."""
    mapped = _tool_choice(choice)
    if mapped is None:
        return None
    accepted = accepted_tool_choices(model)
    member = next(iter(mapped))
    if accepted is None or member in accepted:
        return mapped
    if member == "auto":
        return None
    raise InvalidRequest(
        f"bedrock: {model} does not take tool_choice {_CHOICE_WORDS[member]} (Converse supports it for Anthropic "
        f"Claude and Amazon Nova models{', and Mistral Large' if member == 'any' else ''}); send tool_choice \"auto\"",
        param="tool_choice", code="unsupported_parameter")


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


_ANSWER_ROOM = 4096  # maxTokens above the budget when the client set none


def _is_claude(model: str) -> bool:
    return "anthropic." in model  # anthropic.claude-..., us.anthropic.claude-..., inference-profile ARNs


def _additional_fields(data: Mapping[str, Any], model: str, inference: dict[str, Any]) -> dict[str, Any]:
    """What Converse has no field for goes in ``additionalModelRequestFields``, in the model's own
    words: ``top_k``; Claude's ``thinking`` (as sent, or from ``reasoning_effort``), checked
    against the rules Claude sets with it (``claude_thinking``, the Anthropic adapter's code):
    ``maxTokens`` above the budget, a budget of at least 1024, temperature 1, topP >= 0.95, no top_k."""
    extra: dict[str, Any] = {}
    if data.get("top_k") is not None:
        extra["top_k"] = data["top_k"]
    thinking = data.get("thinking")
    asked_max = inference.get("maxTokens")
    if thinking is None and data.get("reasoning_effort") not in (None, "none"):
        if not _is_claude(model):
            raise InvalidRequest(f"bedrock: reasoning_effort is only mapped for Claude models, not {model}",
                                 param="reasoning_effort", code="unsupported_parameter")
        thinking = thinking_for_effort(data.get("reasoning_effort"), asked_max, "bedrock")
    if isinstance(thinking, dict):
        extra["thinking"] = thinking
        if thinking_on(thinking) and _is_claude(model):
            sampling = {"temperature": data.get("temperature"), "top_p": data.get("top_p"), "top_k": data.get("top_k")}
            budget = check_thinking(thinking, asked_max, sampling, "bedrock")
            if not asked_max:
                inference["maxTokens"] = budget + _ANSWER_ROOM
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
        mapped = _checked_tool_choice(choice, model)
        if mapped is not None and ("any" in mapped or "tool" in mapped) and _is_claude(model) \
                and thinking_on(extra.get("thinking")):
            raise forced_tool_refused("bedrock")  # Claude refuses a forced tool call while thinking
        if mapped is not None:
            config["toolChoice"] = mapped
        body["toolConfig"] = config
    output = _output_config(data.get("response_format"))
    if output is not None:
        body["outputConfig"] = output
    if not takes_cache_points(model):
        _drop_cache_points(body)
    return body


# Prompt caching on Bedrock: Claude and Amazon Nova models. Other models refuse a request holding a
# cachePoint ("You invoked an unsupported model or your request did not allow prompt caching"),
# while cache_control is only a hint: for them the breakpoints are left out, not the request refused.
CACHE_FAMILIES = ("anthropic.", "amazon.nova")


def takes_cache_points(model: str) -> bool:
    base = base_model(model)
    return base.startswith(CACHE_FAMILIES) or not base.startswith(MODEL_PROVIDERS)


def _drop_cache_points(body: dict[str, Any]) -> None:
    lists = [body.get("system") or [], (body.get("toolConfig") or {}).get("tools") or []]
    lists += [turn["content"] for turn in body["messages"]]
    for blocks in lists:
        blocks[:] = [block for block in blocks if "cachePoint" not in block]


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
    thinking: list[dict[str, Any]] = []
    calls: list[ToolCall] = []
    for block in message.get("content") or []:
        if "text" in block:
            texts.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            arguments = _encode(use.get("input", {})).decode()
            calls.append(ToolCall(id=use.get("toolUseId", ""), function=FunctionCall(name=use.get("name", ""), arguments=arguments)))
        elif "reasoningContent" in block:
            item = block["reasoningContent"] or {}
            if "redactedContent" in item:
                thinking.append({"type": "redacted_thinking", "data": item["redactedContent"]})
                continue
            part = item.get("reasoningText") or {}
            text = part.get("text") or ""
            if text:
                reasoning.append(text)
            signed: dict[str, Any] = {"type": "thinking", "thinking": text}
            if part.get("signature"):
                signed["signature"] = part["signature"]
            thinking.append(signed)
        # citations, images, documents: no OpenAI chat shape carries them.
    content = "".join(texts) if texts or not calls else None
    msg: AssistantMessage
    if thinking:
        # reasoning_content for reading; thinking_blocks (signatures, redacted data) for sending back.
        msg = ReasoningMessage(content=content, tool_calls=calls or None, reasoning_content="".join(reasoning) or None,
                               thinking_blocks=thinking)
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

    __slots__ = ("out", "provider", "usage", "stopped", "done", "reasoning")

    def __init__(self, model: str, ident: str, include_usage: bool, created: int | None = None,
                 provider: str = "bedrock") -> None:
        self.out = ChunkWriter(model, include_usage, ident=ident, created=created)
        self.provider = provider
        self.usage: dict[str, Any] | None = None
        self.stopped = False
        self.done = False  # metadata (usage) follows messageStop: read to the end of the body
        self.reasoning: dict[int, list[str]] = {}  # block index -> its reasoning text so far

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
                part = delta["reasoningContent"] or {}
                index = payload.get("contentBlockIndex", 0)
                text = part.get("text")
                if text:
                    self.reasoning.setdefault(index, []).append(text)
                    return [out.chunk(Delta(reasoning_content=text))]
                if part.get("signature"):
                    # The block is complete: send it whole, signed, as the plain answer's thinking_blocks.
                    block = {"type": "thinking", "thinking": "".join(self.reasoning.pop(index, ())),
                             "signature": part["signature"]}
                    return [out.chunk(Delta(thinking_blocks=[block]))]
                if part.get("redactedContent"):
                    return [out.chunk(Delta(thinking_blocks=[{"type": "redacted_thinking", "data": part["redactedContent"]}]))]
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
