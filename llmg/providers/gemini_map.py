"""OpenAI chat <-> Google Gemini ``generateContent``: the translation table, as pure functions.

Shared by the Gemini API (AI Studio) and Vertex AI adapters: both take the same
``GenerateContentRequest`` body and answer with the same ``GenerateContentResponse``.
No HTTP here; every function maps plain data to plain data.

Checked against Google's public references:
- https://ai.google.dev/api/generate-content (request, response, FinishReason, UsageMetadata)
- https://ai.google.dev/api/caching#Schema (the OpenAPI subset accepted for parameters/responseSchema)
- https://ai.google.dev/gemini-api/docs/function-calling (functionCall / functionResponse turns)
- https://ai.google.dev/gemini-api/docs/thought-signatures (signatures must come back with the call)
- https://ai.google.dev/gemini-api/docs/file-input-methods (inlineData; fileData with external
  HTTPS URLs, which needs a mimeType)
- https://ai.google.dev/gemini-api/docs/openai (reasoning_effort -> thinking budgets 1K/8K/24K)
- https://ai.google.dev/api/embeddings#method:-models.batchembedcontents
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import struct
import time
import uuid
from typing import Any

import msgspec

from ..errors import InvalidRequest, ProviderError
from ..schemas.openai import (
    CompletionTokensDetails,
    Delta,
    FinishReason,
    FunctionCall,
    PromptTokensDetails,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from . import gemini_wire as wire
from .tool_features import function_tools_only
from .translate import ChunkWriter

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode

# --- small helpers ------------------------------------------------------------------------------


def _bad(message: str, param: str | None = None) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_value")


def _text_of(content: Any, where: str) -> str:
    """The text of a message whose content may only be text (system, tool results)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise _bad(f"{where}: only text content parts are supported here", f"{where}.content[{i}]")
            texts.append(part["text"])
        return "".join(texts)
    raise _bad(f"{where}: content must be a string or an array of parts", f"{where}.content")


# --- tool-call ids ------------------------------------------------------------------------------
# Gemini's functionCall has no id (generateContent leaves FunctionCall.id empty), so ids are made
# here: stable for the same answer, unique per call. Gemini 2.5/3 attach a `thoughtSignature` to a
# functionCall part and (Gemini 3) reject a history that drops it; the gateway keeps no state, so
# the signature rides inside the id the client echoes back.

_SIG = "__sig__"


def make_tool_call_id(response_id: str, candidate: int, index: int, name: str, args: bytes, signature: str | None) -> str:
    digest = hashlib.sha256(b"%s|%d|%d|%s|%s" % (response_id.encode(), candidate, index, name.encode(), args)).hexdigest()
    ident = f"call_{index}_{digest[:16]}"
    return f"{ident}{_SIG}{signature}" if signature else ident


def split_tool_call_id(ident: str) -> tuple[str, str | None]:
    base, sep, signature = ident.partition(_SIG)
    return base, (signature or None) if sep else None


# --- JSON Schema -> Gemini Schema ---------------------------------------------------------------
# FunctionDeclaration.parameters and generationConfig.responseSchema take a subset of OpenAPI 3.0:
# no $ref, no additionalProperties, no const/oneOf/allOf, type is one name (nullable instead of a
# ["x","null"] list), enum values are strings. Anything else is rejected with a 400 by the API.

_SCHEMA_KEYS = frozenset(
    {
        "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
        "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example",
        "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum",
    }
)
_MAX_SCHEMA_DEPTH = 32


def to_gemini_schema(schema: Any, param: str = "parameters") -> dict[str, Any]:
    if not isinstance(schema, dict):
        raise _bad(f"{param}: a JSON Schema object is required", param)
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    return _schema(schema, defs, param, 0)


def _schema(node: Any, defs: dict[str, Any], param: str, depth: int) -> dict[str, Any]:
    if depth > _MAX_SCHEMA_DEPTH:
        raise _bad(f"{param}: schema nests too deeply (recursive $ref?)", param)
    if not isinstance(node, dict):
        return {}
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if not ref.startswith("#/") or name not in defs:
            raise _bad(f"{param}: cannot resolve $ref {ref!r} (only local #/$defs references)", param)
        merged = {**defs[name], **{k: v for k, v in node.items() if k != "$ref"}}
        return _schema(merged, defs, param, depth + 1)
    out: dict[str, Any] = {}
    for union in ("oneOf", "anyOf"):
        if isinstance(node.get(union), list):
            options = [o for o in node[union] if not (isinstance(o, dict) and o.get("type") == "null")]
            nullable = len(options) < len(node[union])
            if len(options) == 1:
                out.update(_schema(options[0], defs, param, depth + 1))
            else:
                out["anyOf"] = [_schema(o, defs, param, depth + 1) for o in options]
            if nullable:
                out["nullable"] = True
    if isinstance(node.get("allOf"), list):
        for sub in node["allOf"]:
            out.update(_schema(sub, defs, param, depth + 1))
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            out["nullable"] = True
        kind = kinds[0] if len(kinds) == 1 else None
        if kind is None and kinds:
            out["anyOf"] = [{"type": k} for k in kinds]
    if isinstance(kind, str):
        out["type"] = kind
    if "const" in node:
        out["enum"] = [_enum_value(node["const"])]
        out.setdefault("type", "string")
    for key, value in node.items():
        if key not in _SCHEMA_KEYS or key == "type":
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _schema(sub, defs, param, depth + 1) for name, sub in value.items()}
        elif key == "items" and isinstance(value, dict):
            out[key] = _schema(value, defs, param, depth + 1)
        elif key == "anyOf":
            continue  # handled above
        elif key == "enum" and isinstance(value, list):
            out[key] = [_enum_value(v) for v in value if v is not None]
            if len(out[key]) < len(value):
                out["nullable"] = True
        else:
            out[key] = value
    if out.get("enum") and out.get("type") in ("integer", "number"):
        out["format"] = "enum"  # the documented way to enumerate numbers (values as strings)
    if out.get("type") == "object" and not out.get("properties"):
        # "properties: should be non-empty for OBJECT type": a free-form object has no Gemini form.
        out.pop("type")
        out.pop("properties", None)
        out.pop("required", None)
    return out


def _enum_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else _encode(value).decode()


# --- request: OpenAI chat -> GenerateContentRequest ---------------------------------------------

_IMAGE_DEFAULT_MIME = "image/jpeg"
_AUDIO_MIME = {"wav": "audio/wav", "mp3": "audio/mp3", "flac": "audio/flac", "aac": "audio/aac",
               "ogg": "audio/ogg", "aiff": "audio/aiff", "pcm16": "audio/l16"}
_THINKING_BUDGET = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}
# reasoning_effort -> the thinkingLevel each Gemini 3 model takes (ai.google.dev/gemini-api/docs/thinking,
# the per-model pages): 3 Pro knows low and high; 3.1 Pro and 3.5 Flash low, medium and high; 3 Flash
# and the Flash-Lite models minimal, low, medium and high. None can turn thinking off. An effort a
# model lacks goes to the nearest level it has. Longest prefix first (3.5-flash-lite before 3.5-flash).
_ALL_LEVELS = {"minimal": "minimal", "low": "low", "medium": "medium", "high": "high"}
_NO_MINIMAL = {"minimal": "low", "low": "low", "medium": "medium", "high": "high"}
_THINKING_LEVELS = (
    ("gemini-3-pro", {"minimal": "low", "low": "low", "medium": "high", "high": "high"}),
    ("gemini-3.1-pro", _NO_MINIMAL),
    ("gemini-3.5-flash-lite", _ALL_LEVELS),
    ("gemini-3.5-flash", _NO_MINIMAL),
    ("gemini-3.1-flash-lite", _ALL_LEVELS),
    ("gemini-3-flash", _ALL_LEVELS),
)


def _thinking_level(effort: str, model: str) -> str:
    levels = next((table for prefix, table in _THINKING_LEVELS if model.startswith(prefix)), None)
    if levels is None:  # a Gemini 3 model not known here yet: the effort as the level, its answer decides
        levels = _ALL_LEVELS
    level = levels.get(effort)
    if level is None:
        raise _bad(f"reasoning_effort {effort!r} is not available on {model}: expected one of {', '.join(levels)}"
                   + (" (Gemini 3 cannot turn thinking off)" if effort == "none" else ""), "reasoning_effort")
    return level


def _data_url(url: str, param: str) -> dict[str, Any]:
    header, sep, data = url.partition(",")
    if not sep or ";base64" not in header:
        raise _bad("data: URLs must be base64-encoded (data:<mime>;base64,<data>)", param)
    mime = header[5:].split(";", 1)[0] or "application/octet-stream"
    return {"inlineData": {"mimeType": mime, "data": data}}


def _url_part(url: str, param: str, default_mime: str | None) -> dict[str, Any]:
    if url.startswith("data:"):
        return _data_url(url, param)
    if url.startswith(("https://", "http://", "gs://")):
        # fileData takes Files API URIs, gs:// objects and public/signed HTTPS URLs; the API wants
        # the mimeType with it, so it comes from the URL's extension when the client gave none.
        mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or default_mime
        data: dict[str, Any] = {"fileUri": url}
        if mime:
            data["mimeType"] = mime
        return {"fileData": data}
    raise _bad("image and file URLs must be https://, gs:// or base64 data: URLs", param)


def _user_parts(content: Any, param: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if content is None:
        return []
    if not isinstance(content, list):
        raise _bad(f"{param}: content must be a string or an array of parts", param)
    parts: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        where = f"{param}[{i}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):  # Gemini rejects an empty text part
                parts.append({"text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise _bad(f"{where}: image_url.url is required", where)
            parts.append(_url_part(url, where, _IMAGE_DEFAULT_MIME))
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            fmt = audio.get("format", "wav")
            parts.append({"inlineData": {"mimeType": _AUDIO_MIME.get(fmt, f"audio/{fmt}"), "data": audio.get("data", "")}})
        elif kind == "file":
            file = part.get("file") or {}
            if isinstance(file.get("file_data"), str):
                data = file["file_data"]
                if data.startswith("data:"):
                    parts.append(_data_url(data, where))
                else:  # bare base64: the filename decides the type
                    mime = mimetypes.guess_type(file.get("filename") or "")[0] or "application/pdf"
                    parts.append({"inlineData": {"mimeType": mime, "data": data}})
            elif isinstance(file.get("file_id"), str):
                parts.append(_url_part(file["file_id"], where, None))
            else:
                raise _bad(f"{where}: file needs file_data or file_id", where)
        else:
            raise _bad(f"{where}: content part type {kind!r} is not supported by Gemini", where)
    return parts


def _arguments(raw: Any, where: str) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        value = _decode(raw) if isinstance(raw, (str, bytes)) else raw
    except msgspec.DecodeError:
        raise _bad(f"{where}: function arguments must be a JSON object", where) from None
    if not isinstance(value, dict):
        raise _bad(f"{where}: function arguments must be a JSON object", where)
    return value


def _tool_result(content: Any, where: str) -> dict[str, Any]:
    """FunctionResponse.response must be an object: a JSON object result goes as is, anything
    else as {"output": ...} (the documented key for a function's output)."""
    text = _text_of(content, where)
    try:
        value = _decode(text)
    except msgspec.DecodeError:
        return {"output": text}
    return value if isinstance(value, dict) else {"output": value}


def to_request(data: dict[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI chat completion request (as sent) -> a GenerateContentRequest body."""
    data = function_tools_only(data)
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    for i, message in enumerate(data.get("messages") or []):
        where = f"messages[{i}]"
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            text = _text_of(content, where)
            if text:  # Gemini rejects an empty text part
                system.append({"text": text})
        elif role == "user":
            parts = _user_parts(content, f"{where}.content")
            if parts:  # an empty user message says nothing (and Gemini rejects empty parts)
                contents.append({"role": "user", "parts": parts})
        elif role == "assistant":
            parts = []
            text = _text_of(content, where) if not isinstance(content, list) else "".join(
                p.get("text") or p.get("refusal") or "" for p in content if isinstance(p, dict))
            if text:
                parts.append({"text": text})
            for j, call in enumerate(message.get("tool_calls") or []):
                function = call.get("function") or {}
                name = function.get("name")
                if not name:
                    raise _bad(f"{where}.tool_calls[{j}]: function.name is required", f"{where}.tool_calls[{j}]")
                args = _arguments(function.get("arguments"), f"{where}.tool_calls[{j}].function.arguments")
                part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
                ident = call.get("id") or ""
                call_names[ident] = name
                signature = split_tool_call_id(ident)[1]
                if signature:
                    part["thoughtSignature"] = signature
                parts.append(part)
            if parts and contents and contents[-1]["role"] == "model":
                # Separate assistant messages (text, then tool_calls) are one model turn to Gemini,
                # which rejects a function call turn right after another model turn.
                contents[-1]["parts"].extend(parts)
            elif parts:
                contents.append({"role": "model", "parts": parts})
        elif role in ("tool", "function"):
            ident = message.get("tool_call_id") or ""
            name = call_names.get(ident) or message.get("name")
            if not name:
                raise _bad(f"{where}: tool_call_id {ident!r} matches no tool call of an earlier assistant message", f"{where}.tool_call_id")
            part = {"functionResponse": {"name": name, "response": _tool_result(content, where)}}
            # Results of parallel calls answer one model turn together: one user turn, many parts.
            previous = contents[-1] if contents else None
            if previous and previous["role"] == "user" and all("functionResponse" in p for p in previous["parts"]):
                previous["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
        else:
            raise _bad(f"{where}: role {role!r} is not supported", f"{where}.role")
    if not contents:
        raise _bad("messages: no user or assistant message has any content", "messages")
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    tools = data.get("tools")
    if tools:
        declarations = []
        for i, tool in enumerate(tools):
            if tool.get("type", "function") != "function":
                raise _bad(f"tools[{i}]: only function tools are supported by Gemini", f"tools[{i}].type")
            function = tool.get("function") or {}
            declaration: dict[str, Any] = {"name": function.get("name")}
            if function.get("description"):
                declaration["description"] = function["description"]
            params = function.get("parameters")
            if params:
                converted = to_gemini_schema(params, f"tools[{i}].function.parameters")
                if converted.get("properties"):
                    declaration["parameters"] = converted
            declarations.append(declaration)
        body["tools"] = [{"functionDeclarations": declarations}]
    choice = data.get("tool_choice")
    if choice is not None and tools:
        if choice == "auto":
            body["toolConfig"] = {"functionCallingConfig": {"mode": "AUTO"}}
        elif choice == "none":
            body["toolConfig"] = {"functionCallingConfig": {"mode": "NONE"}}
        elif choice == "required":
            body["toolConfig"] = {"functionCallingConfig": {"mode": "ANY"}}
        elif isinstance(choice, dict):
            name = (choice.get("function") or {}).get("name")
            body["toolConfig"] = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    config = _generation_config(data, model)
    if config:
        body["generationConfig"] = config
    return body


def _generation_config(data: dict[str, Any], model: str) -> dict[str, Any]:
    config: dict[str, Any] = {}
    stop = data.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if data.get("n") is not None:
        config["candidateCount"] = data["n"]
    limit = data.get("max_completion_tokens") or data.get("max_tokens")
    if limit is not None:
        config["maxOutputTokens"] = limit
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP"), ("seed", "seed"),
                         ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")):
        if data.get(ours) is not None:
            config[theirs] = data[ours]
    if data.get("logprobs"):
        config["responseLogprobs"] = True
        if data.get("top_logprobs") is not None:
            config["logprobs"] = data["top_logprobs"]
    fmt = data.get("response_format")
    if isinstance(fmt, dict):
        if fmt.get("type") == "json_object":
            config["responseMimeType"] = "application/json"
        elif fmt.get("type") == "json_schema":
            config["responseMimeType"] = "application/json"
            schema = (fmt.get("json_schema") or {}).get("schema")
            if schema:
                config["responseSchema"] = to_gemini_schema(schema, "response_format.json_schema.schema")
    effort = data.get("reasoning_effort")
    if effort:
        if model.startswith("gemini-3"):  # Gemini 3 takes a level; 2.5 a token budget
            thinking: dict[str, Any] = {"thinkingLevel": _thinking_level(effort, model)}
        elif effort in _THINKING_BUDGET:
            thinking = {"thinkingBudget": _THINKING_BUDGET[effort]}
        else:
            raise _bad(f"reasoning_effort {effort!r}: expected one of {', '.join(_THINKING_BUDGET)}", "reasoning_effort")
        if effort != "none":
            thinking["includeThoughts"] = True  # thought summaries come back as reasoning_content
        config["thinkingConfig"] = thinking
    return config


# --- response: GenerateContentResponse -> chat.completion ---------------------------------------

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "LANGUAGE": "stop",
    "OTHER": "stop",
    "MALFORMED_FUNCTION_CALL": "stop",
    "UNEXPECTED_TOOL_CALL": "stop",
    "TOO_MANY_TOOL_CALLS": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
}


def finish_reason(reason: str | None, has_calls: bool) -> FinishReason:
    mapped = _FINISH.get(reason or "STOP", "stop")
    return "tool_calls" if has_calls and mapped == "stop" else mapped


def to_usage(meta: wire.UsageMetadata | None) -> Usage | None:
    if meta is None:
        return None
    prompt = (meta.promptTokenCount or 0) + (meta.toolUsePromptTokenCount or 0)
    thoughts = meta.thoughtsTokenCount or 0
    completion = (meta.candidatesTokenCount or 0) + thoughts
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=meta.totalTokenCount or prompt + completion,
        prompt_tokens_details=(PromptTokensDetails(cached_tokens=meta.cachedContentTokenCount)
                               if meta.cachedContentTokenCount is not None else None),
        completion_tokens_details=(CompletionTokensDetails(reasoning_tokens=thoughts)
                                   if meta.thoughtsTokenCount is not None else None),
    )


def _token_logprob(candidate: wire.LogprobCandidate) -> dict[str, Any]:
    token = candidate.token or ""
    return {"token": token, "logprob": candidate.logProbability or 0.0, "bytes": list(token.encode())}


def to_logprobs(result: wire.LogprobsResult | None) -> dict[str, Any] | None:
    """Candidate.logprobsResult -> OpenAI choice.logprobs (chosen token per step + that step's top list)."""
    if result is None or not result.chosenCandidates:
        return None
    tops = result.topCandidates
    content = []
    for step, chosen in enumerate(result.chosenCandidates):
        item = _token_logprob(chosen)
        alternatives = tops[step].candidates if step < len(tops) else []
        item["top_logprobs"] = [_token_logprob(c) for c in alternatives]
        content.append(item)
    return {"content": content, "refusal": None}


def completion_id(response: wire.GenerateContentResponse) -> str:
    rid = response.responseId
    return f"chatcmpl-{rid}" if rid else f"chatcmpl-{uuid.uuid4().hex}"


def _check_error(response: wire.GenerateContentResponse) -> wire.GenerateContentResponse:
    if response.error is not None:
        raise ProviderError(f"upstream error: {error_message(_encode({'error': response.error})) or 'unknown'}",
                            code="upstream_error")
    return response


def _check_error_json(response: Any) -> dict[str, Any]:
    """The same check for the answers still read as plain JSON (embeddings)."""
    if not isinstance(response, dict):
        raise ProviderError("upstream answer is not a JSON object", code="upstream_error")
    if isinstance(response.get("error"), dict):
        raise ProviderError(f"upstream error: {error_message(_encode(response)) or 'unknown'}", code="upstream_error")
    return response


def _function_call(fc: wire.FunctionCall, part: wire.Part, rid: str, cand: int, index: int) -> ToolCall:
    name = fc.name or ""
    args = _encode(fc.args or {})
    ident = fc.id or make_tool_call_id(rid, cand, index, name, args, part.thoughtSignature)
    return ToolCall(id=ident, function=FunctionCall(name=name, arguments=args.decode()))


def to_completion(response: wire.GenerateContentResponse, model: str, created: int | None = None) -> dict[str, Any]:
    """A GenerateContentResponse -> an OpenAI chat.completion (as plain data ready to encode)."""
    response = _check_error(response)
    rid = response.responseId or ""
    choices = []
    for position, candidate in enumerate(response.candidates):
        index = candidate.index if candidate.index is not None else position
        texts: list[str] = []
        thoughts: list[str] = []
        calls: list[ToolCall] = []
        for part in candidate.content.parts if candidate.content is not None else ():
            if part.functionCall is not None:
                calls.append(_function_call(part.functionCall, part, rid, index, len(calls)))
            elif part.text is not None:
                (thoughts if part.thought else texts).append(part.text)
        message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
        if calls:
            message["tool_calls"] = msgspec.to_builtins(calls)
        if thoughts:
            message["reasoning_content"] = "".join(thoughts)
        message["refusal"] = None
        choices.append({"index": index, "message": message, "logprobs": to_logprobs(candidate.logprobsResult),
                        "finish_reason": finish_reason(candidate.finishReason, bool(calls))})
    if not choices and response.promptFeedback is not None and response.promptFeedback.blockReason:
        # The prompt itself was blocked: no candidate at all.
        choices.append({"index": 0, "message": {"role": "assistant", "content": None, "refusal": None},
                        "logprobs": None, "finish_reason": "content_filter"})
    out: dict[str, Any] = {
        "id": completion_id(response),
        "object": "chat.completion",
        "created": created if created is not None else int(time.time()),
        "model": response.modelVersion or model,
        "choices": choices,
    }
    usage = to_usage(response.usageMetadata)
    if usage is not None:
        out["usage"] = msgspec.to_builtins(usage)
    return out


# --- stream: SSE of GenerateContentResponse -> chat.completion.chunk ----------------------------


class StreamTranslator:
    """Each streamed GenerateContentResponse -> chunk events; the contract is ``translate``'s.

    Ids are stable for the whole stream (the first responseId), each candidate's tool calls get
    indexes 0, 1, ... in arrival order, each candidate gets exactly one finish chunk, and the usage
    chunk (the last usageMetadata seen) follows when the client asked for it.
    """

    __slots__ = ("out", "rid", "started", "finished", "usage", "blocked", "done")

    def __init__(self, model: str, include_usage: bool, created: int | None = None) -> None:
        self.out = ChunkWriter(model, include_usage, created=created)
        self.rid: str | None = None
        self.started: set[int] = set()
        self.finished: set[int] = set()
        self.usage: Usage | None = None
        self.blocked = False
        self.done = False  # Gemini has no end event: the stream ends with the body

    def feed(self, response: wire.GenerateContentResponse) -> list[bytes]:
        response = _check_error(response)
        w = self.out
        if self.rid is None:
            w.id = completion_id(response)
            self.rid = response.responseId or ""
            w.model = response.modelVersion or w.model
        out: list[bytes] = []
        for position, candidate in enumerate(response.candidates):
            index = candidate.index if candidate.index is not None else position
            if index in self.finished:
                continue
            if index not in self.started:
                self.started.add(index)
                out.append(w.chunk(Delta(role="assistant", content=""), index=index))
            # This event's token logprobs ride on its first content chunk (or a chunk of their own).
            logprobs = to_logprobs(candidate.logprobsResult)
            for part in candidate.content.parts if candidate.content is not None else ():
                if part.functionCall is not None:
                    n = w.new_tool(index)
                    call = _function_call(part.functionCall, part, self.rid, index, n)
                    function = call.function
                    out.append(w.chunk(Delta(tool_calls=[ToolCallDelta(index=n, id=call.id, type="function",
                                                                       function={"name": function.name, "arguments": ""})]), index=index))
                    out.append(w.chunk(Delta(tool_calls=[ToolCallDelta(index=n, function={"arguments": function.arguments})]), index=index))
                elif part.text:
                    if part.thought:
                        out.append(w.chunk(Delta(reasoning_content=part.text), index=index))
                    else:
                        out.append(w.chunk(Delta(content=part.text), index=index, logprobs=logprobs))
                        logprobs = None
            if logprobs is not None:
                out.append(w.chunk(Delta(), index=index, logprobs=logprobs))
            if candidate.finishReason:
                self.finished.add(index)
                out.append(w.chunk(Delta(), finish_reason(candidate.finishReason, w.tool_count(index) > 0), index=index))
        if response.promptFeedback is not None and response.promptFeedback.blockReason:
            self.blocked = True
        if response.usageMetadata is not None:
            self.usage = to_usage(response.usageMetadata)
        return out

    def close(self) -> list[bytes]:
        w = self.out
        if self.rid is None:
            w.id = f"chatcmpl-{uuid.uuid4().hex}"
        out: list[bytes] = []
        if not self.started and self.blocked:
            self.started.add(0)
            out.append(w.chunk(Delta(role="assistant", content="")))
            out.append(w.chunk(Delta(), "content_filter"))
            self.finished.add(0)
        for index in sorted(self.started - self.finished):  # upstream ended without a finishReason
            out.append(w.chunk(Delta(), finish_reason(None, w.tool_count(index) > 0), index=index))
        return out + w.usage(self.usage)


# --- embeddings ---------------------------------------------------------------------------------


def embed_texts(data: dict[str, Any]) -> list[str]:
    items = data.get("input")
    if isinstance(items, str):
        return [items]
    if isinstance(items, list) and all(isinstance(x, str) for x in items):
        return items
    raise _bad("Gemini embeds text: input must be a string or an array of strings (not token ids)", "input")


def to_embed_request(data: dict[str, Any], model: str) -> dict[str, Any]:
    dims = data.get("dimensions")
    requests = []
    for text in embed_texts(data):
        request: dict[str, Any] = {"model": f"models/{model}", "content": {"parts": [{"text": text}]}}
        if dims is not None:
            request["outputDimensionality"] = dims
        requests.append(request)
    return {"requests": requests}


def embedding_list(vectors: list[list[float]], data: dict[str, Any], model: str, tokens: int = 0) -> dict[str, Any]:
    base64_format = data.get("encoding_format") == "base64"
    items = []
    for index, vector in enumerate(vectors):
        value: Any = vector
        if base64_format:  # what OpenAI sends: little-endian float32, base64
            value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
        items.append({"object": "embedding", "index": index, "embedding": value})
    return {"object": "list", "data": items, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def to_embeddings(response: Any, data: dict[str, Any], model: str) -> dict[str, Any]:
    """batchEmbedContents answer -> OpenAI list. The API reports no token counts for it: usage is 0."""
    response = _check_error_json(response)
    vectors = [e.get("values") or [] for e in response.get("embeddings") or []]
    return embedding_list(vectors, data, model)


# --- errors -------------------------------------------------------------------------------------


def error_message(body: bytes) -> str | None:
    """Google's {"error": {"code", "message", "status"}} -> "message (STATUS)"."""
    try:
        data = _decode(body)
    except msgspec.DecodeError:
        return None
    if isinstance(data, list) and data:  # streamGenerateContent without alt=sse wraps it in an array
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict) or not isinstance(err.get("message"), str):
        return None
    status = err.get("status")
    return f"{err['message']} ({status})" if isinstance(status, str) and status else err["message"]


def is_bad_api_key(status: int, body: bytes) -> bool:
    """The Gemini API answers a wrong key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID."""
    return status == 400 and b"API_KEY_INVALID" in body
