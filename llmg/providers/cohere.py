"""Cohere API v2: OpenAI chat completions and embeddings translated to ``/v2/chat`` and ``/v2/embed``.

Checked against Cohere's public API reference:
- https://docs.cohere.com/reference/chat (request fields, response ``message``/``finish_reason``/``usage``)
- https://docs.cohere.com/reference/chat-stream, https://docs.cohere.com/v2/docs/streaming and
  https://docs.cohere.com/docs/tool-use-streaming (SSE ``event:``/``data:`` framing and event types)
- https://docs.cohere.com/reference/embed (``texts``, ``input_type``, ``embedding_types``)
- https://docs.cohere.com/docs/migrating-v1-to-v2 (v2 roles system/user/assistant/tool, tool_plan)

The translation is a set of pure functions (``chat_request``, ``chat_response``,
``StreamTranslator``, ``embed_request``, ``embed_response``, ``error_message``); the adapter class
only moves bytes.
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import msgspec

from ..errors import GatewayError, InvalidRequest, ProviderError
from ..schemas.openai import Delta, FinishReason, ToolCallDelta, Usage
from ..sse import SSEEvent, event_json
from ..transports import Transport
from .base import Call, Provider, Reply, Settings, closing
from .tool_features import function_tools_only
from .translate import ChunkWriter, require_event_stream, run, sse_decoded

_decode = msgspec.json.decode
_encode = msgspec.json.Encoder().encode

# Cohere finish_reason -> OpenAI. ERROR and TIMEOUT are failures, not endings: raised, not mapped.
FINISH_REASONS: dict[str, FinishReason] = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}
_FAILED = ("ERROR", "TIMEOUT")
_TOOL_CHOICE = {"none": "NONE", "required": "REQUIRED"}
DEFAULT_INPUT_TYPE = "search_document"


# --- request ------------------------------------------------------------------------------------


def _text(content: Any) -> str:
    """The text of an OpenAI content value (a string or a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.get("text") or "" for p in content if isinstance(p, dict) and p.get("type") == "text")


def _user_content(content: Any) -> Any:
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": part.get("text") or ""})
        elif kind == "image_url":
            image = part.get("image_url") or {}
            out: dict[str, Any] = {"url": image.get("url", "")}
            if image.get("detail"):
                out["detail"] = image["detail"]
            parts.append({"type": "image_url", "image_url": out})
        else:
            raise InvalidRequest(f"cohere: content part type {kind!r} is not supported", param="messages", code="unsupported_content")
    return parts


def _message(message: dict[str, Any]) -> dict[str, Any]:
    role = message.get("role")
    content = message.get("content")
    if role in ("system", "developer"):
        return {"role": "system", "content": _text(content)}
    if role == "user":
        return {"role": "user", "content": _user_content(content)}
    if role == "assistant":
        out: dict[str, Any] = {"role": "assistant"}
        text = _text(content)
        calls = message.get("tool_calls")
        if calls:
            out["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["function"]["name"], "arguments": c["function"].get("arguments") or "{}"},
                }
                for c in calls
            ]
            # Cohere keeps the text it writes before calling tools as `tool_plan`; we surfaced it
            # as `content`, so it goes back where it came from.
            if text:
                out["tool_plan"] = text
        elif text:
            out["content"] = text
        else:
            out["content"] = ""
        return out
    if role == "tool":
        return {"role": "tool", "tool_call_id": message.get("tool_call_id") or "", "content": _text(content) if not isinstance(content, str) else content}
    raise InvalidRequest(f"cohere: messages with role {role!r} are not supported (use tool messages)", param="messages", code="unsupported_role")


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    fn = tool.get("function") or {}
    out: dict[str, Any] = {"name": fn.get("name")}
    if fn.get("description") is not None:
        out["description"] = fn["description"]
    out["parameters"] = fn.get("parameters") or {"type": "object", "properties": {}}
    return {"type": "function", "function": out}


def chat_request(data: Mapping[str, Any], model: str, *, stream: bool = False) -> dict[str, Any]:
    """OpenAI chat request (as a dict) -> Cohere v2 chat request body."""
    data = function_tools_only(dict(data))
    if (data.get("n") or 1) > 1:
        raise InvalidRequest("cohere: n > 1 is not supported", param="n", code="unsupported_parameter")
    body: dict[str, Any] = {"model": model, "messages": [_message(m) for m in data["messages"]]}
    if stream:
        body["stream"] = True
    tools = data.get("tools")
    choice = data.get("tool_choice")
    if tools:
        body["tools"] = [_tool(t) for t in tools]
        if any((t.get("function") or {}).get("strict") for t in tools):
            body["strict_tools"] = True
        if isinstance(choice, str) and choice in _TOOL_CHOICE:
            body["tool_choice"] = _TOOL_CHOICE[choice]
        elif isinstance(choice, dict):
            # Cohere cannot name one tool; offering only that tool and requiring a call is the same.
            name = (choice.get("function") or {}).get("name")
            chosen = [t for t in body["tools"] if t["function"]["name"] == name]
            if not chosen:
                raise InvalidRequest(f"tool_choice names an unknown tool {name!r}", param="tool_choice", code="invalid_tool_choice")
            body["tools"] = chosen
            body["tool_choice"] = "REQUIRED"
    max_tokens = data.get("max_completion_tokens") or data.get("max_tokens")
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    stop = data.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    for key in ("temperature", "seed"):
        if data.get(key) is not None:
            body[key] = data[key]
    for key in ("frequency_penalty", "presence_penalty"):
        value = data.get(key)
        if value is None:
            continue
        # OpenAI's penalties run -2..2, Cohere's 0..1 with the same meaning (0: none): the shared
        # range passes, a value only OpenAI can express is a clear 400, not a silently different one.
        if not 0 <= value <= 1:
            raise InvalidRequest(f"cohere takes {key} from 0 to 1 (got {value})", param=key, code="unsupported_value")
        body[key] = value
    if data.get("top_p") is not None:
        body["p"] = data["top_p"]
    if data.get("logprobs"):
        body["logprobs"] = True
    fmt = data.get("response_format")
    if fmt:
        kind = fmt.get("type")
        if kind == "json_object":
            body["response_format"] = {"type": "json_object"}
        elif kind == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema")
            body["response_format"] = {"type": "json_object", **({"json_schema": schema} if schema else {})}
        elif kind == "text":
            body["response_format"] = {"type": "text"}
    return body


# --- response -----------------------------------------------------------------------------------


def usage(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Cohere ``usage`` -> OpenAI usage. ``tokens`` (what the model processed) wins over
    ``billed_units`` (what is charged); either may be absent."""
    if not raw:
        return None
    counts = raw.get("tokens") or raw.get("billed_units") or {}
    prompt = int(counts.get("input_tokens") or 0)
    completion = int(counts.get("output_tokens") or 0)
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    cached = raw.get("cached_tokens")
    if cached:
        out["prompt_tokens_details"] = {"cached_tokens": int(cached)}
    return out


def _failure(reason: str, detail: str | None) -> GatewayError:
    text = f"cohere: generation failed ({reason})" + (f": {detail}" if detail else "")
    return ProviderError(text, code="upstream_error")


def chat_response(body: Mapping[str, Any], model: str, created: int | None = None) -> dict[str, Any]:
    """Cohere v2 chat response -> OpenAI ``chat.completion``."""
    reason = body.get("finish_reason") or "COMPLETE"
    if reason in _FAILED:
        raise _failure(reason, None)
    message = body.get("message") or {}
    texts, thinking = [], []
    for part in message.get("content") or []:
        if part.get("type") == "text":
            texts.append(part.get("text") or "")
        elif part.get("type") == "thinking":
            thinking.append(part.get("thinking") or "")
    # content and refusal are required (nullable) in OpenAI's answer; tool_calls only when there are some.
    out_message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None, "refusal": None}
    calls = message.get("tool_calls")
    if calls:
        out_message["tool_calls"] = [
            {
                "id": c.get("id"),
                "type": "function",
                "function": {"name": (c.get("function") or {}).get("name"), "arguments": (c.get("function") or {}).get("arguments") or "{}"},
            }
            for c in calls
        ]
        if out_message["content"] is None and message.get("tool_plan"):
            out_message["content"] = message["tool_plan"]
    if thinking:
        out_message["reasoning_content"] = "".join(thinking)
    result: dict[str, Any] = {
        "id": body.get("id") or "",
        "object": "chat.completion",
        "created": created if created is not None else int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": out_message, "finish_reason": FINISH_REASONS.get(reason, "stop"),
                     "logprobs": to_logprobs(body.get("logprobs"))}],
    }
    mapped = usage(body.get("usage"))
    if mapped:
        result["usage"] = mapped
    return result


def to_logprobs(entries: Any) -> dict[str, Any] | None:
    """Cohere's ``logprobs`` (``[{"text", "token_ids", "logprobs"}]``, one entry per text span) ->
    OpenAI's ``{"content": [{"token", "logprob", "bytes", "top_logprobs"}], "refusal": None}``.

    A span of several tokens becomes one entry whose logprob is the sum of its tokens' (the log
    probability of the whole span); Cohere sends no alternatives, so ``top_logprobs`` is empty.
    """
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        return None
    content = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        text = entry.get("text") or ""
        values = [v for v in entry.get("logprobs") or () if isinstance(v, (int, float))]
        content.append({"token": text, "logprob": float(sum(values)), "bytes": list(text.encode()), "top_logprobs": []})
    return {"content": content, "refusal": None} if content else None


class StreamTranslator:
    """Cohere v2 stream events (JSON objects with their ``type``) -> OpenAI chunks; the contract
    is ``translate``'s.

    Tool calls get OpenAI indexes 0, 1, ... in the order Cohere starts them, and keep the id
    Cohere gave at ``tool-call-start``; argument deltas are passed on exactly as received. One
    finish chunk is sent at ``message-end``; a usage chunk follows when the client asked for it.
    """

    __slots__ = ("out", "started", "done", "usage", "_last_tool")

    def __init__(self, model: str, include_usage: bool = False, created: int | None = None) -> None:
        self.out = ChunkWriter(model, include_usage, created=created)
        self.started = False
        self.done = False  # message-end seen
        self.usage: Usage | None = None
        self._last_tool = -1

    def _role(self, chunks: list[bytes]) -> list[bytes]:
        if not self.started:
            self.started = True
            chunks.append(self.out.chunk(Delta(role="assistant", content="")))
        return chunks

    def feed(self, event: Mapping[str, Any]) -> list[bytes]:
        """One decoded event -> zero or more SSE chunks."""
        kind = event.get("type")
        out = self.out
        delta = event.get("delta") or {}
        message = delta.get("message") or {}
        if kind == "message-start":
            out.id = event.get("id") or out.id
            return self._role([])
        if kind in ("content-start", "content-delta"):
            chunks = self._role([])
            content = message.get("content") or {}
            if content.get("text"):
                chunks.append(out.chunk(Delta(content=content["text"]), logprobs=to_logprobs(event.get("logprobs"))))
            if content.get("thinking"):
                chunks.append(out.chunk(Delta(reasoning_content=content["thinking"])))
            return chunks
        if kind == "tool-plan-delta":
            chunks = self._role([])
            if message.get("tool_plan"):
                chunks.append(out.chunk(Delta(content=message["tool_plan"])))
            return chunks
        if kind == "tool-call-start":
            chunks = self._role([])
            call = message.get("tool_calls") or {}
            fn = call.get("function") or {}
            ours, _ = out.tool_index(int(event.get("index", out.tool_count())))
            self._last_tool = ours
            first = ToolCallDelta(index=ours, id=call.get("id"), type="function",
                                  function={"name": fn.get("name") or "", "arguments": ""})
            chunks.append(out.chunk(Delta(tool_calls=[first])))
            if fn.get("arguments"):  # through tool_arguments, so a call that got some is not given "{}"
                chunks.append(out.tool_arguments(ours, fn["arguments"]))
            return chunks
        if kind == "tool-call-delta":
            fn = (message.get("tool_calls") or {}).get("function") or {}
            arguments = fn.get("arguments")
            if arguments:
                found = out.find_tool(int(event["index"])) if "index" in event else None
                ours = self._last_tool if found is None else found
                return [out.tool_arguments(ours, arguments)]
            return []
        if kind == "message-end":
            reason = delta.get("finish_reason") or "COMPLETE"
            if reason in _FAILED:
                raise _failure(reason, delta.get("error"))
            chunks = self._role([])
            self.done = True
            chunks += out.empty_arguments()  # a call with no argument deltas ends as "{}", as OpenAI sends it
            chunks.append(out.chunk(Delta(), FINISH_REASONS.get(reason, "stop")))
            mapped = usage(delta.get("usage"))
            self.usage = msgspec.convert(mapped, Usage) if mapped else None
            return chunks
        # content-end, tool-call-end, citation-start/-end, debug: nothing to forward.
        return []

    def close(self) -> list[bytes]:
        if not self.done:
            raise ProviderError("cohere: stream ended before message-end", code="stream_error")
        return self.out.usage(self.usage)


def stream_event(ev: SSEEvent) -> dict[str, Any] | None:
    """One SSE event -> the JSON object the translator reads (its ``type`` from the SSE event name
    when the body lacks it); None for an empty event or a non-object."""
    payload = event_json(ev.data, "cohere")
    if not isinstance(payload, dict):
        return None
    if not payload.get("type"):
        payload["type"] = ev.event or ""
    return payload


# --- embeddings ---------------------------------------------------------------------------------


def embed_request(data: Mapping[str, Any], model: str, input_type: str) -> dict[str, Any]:
    items = data["input"]
    texts = [items] if isinstance(items, str) else items
    if not all(isinstance(t, str) for t in texts):
        raise InvalidRequest("cohere: embeddings input must be text (token ids are not supported)", param="input", code="unsupported_input")
    body: dict[str, Any] = {
        "model": model,
        "texts": list(texts),
        "input_type": data.get("input_type") or input_type,
        "embedding_types": ["float"],
    }
    if data.get("dimensions"):
        body["output_dimension"] = data["dimensions"]
    return body


def embed_response(body: Mapping[str, Any], model: str, encoding_format: str | None = None) -> dict[str, Any]:
    embeddings = body.get("embeddings") or {}
    vectors = embeddings.get("float") if isinstance(embeddings, dict) else embeddings
    data = []
    for index, vector in enumerate(vectors or []):
        value: Any = vector
        if encoding_format == "base64":
            value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": value})
    billed = ((body.get("meta") or {}).get("billed_units") or {}).get("input_tokens") or 0
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": int(billed), "total_tokens": int(billed)}}


def error_message(body: bytes) -> str | None:
    """Cohere error bodies are ``{"message": "..."}`` (some add an ``id``)."""
    try:
        data = _decode(body)
    except msgspec.DecodeError:
        return body[:500].decode("utf-8", "replace").strip() or None
    message = data.get("message") if isinstance(data, dict) else None
    if isinstance(message, str):
        return message
    return None


# --- adapter ------------------------------------------------------------------------------------


class CohereProvider(Provider):
    def __init__(self, settings: Settings, transport: Transport) -> None:
        super().__init__(settings, transport)
        self.chat_url = f"{self.base_url}/v2/chat"
        self.embed_url = f"{self.base_url}/v2/embed"
        self.stream_headers = {**self.headers, "accept": "text/event-stream"}
        self.input_type = str(settings.params.get("input_type") or DEFAULT_INPUT_TYPE)

    def upstream_error(self, status: int, body: bytes, headers: Mapping[str, str], message: str | None = None,
                       kind: str | None = None) -> GatewayError:
        return super().upstream_error(status, body, headers, message if message is not None else error_message(body))

    async def chat(self, call: Call) -> Reply:
        body = chat_request(call.data(), call.model)
        resp = await self.post(self.chat_url, _encode(body))
        with self.translating:
            return Reply(_encode(chat_response(self.answer_json(resp.body), call.model)))

    async def chat_stream(self, call: Call) -> AsyncIterator[bytes]:
        data = call.data()
        body = chat_request(data, call.model, stream=True)
        include_usage = bool((data.get("stream_options") or {}).get("include_usage"))
        stream = await require_event_stream(await self.open_stream(self.chat_url, _encode(body), self.stream_headers), self.name)
        return closing(stream, run(sse_decoded(stream.chunks(), stream_event), StreamTranslator(call.model, include_usage)), self.name)

    async def embeddings(self, call: Call) -> Reply:
        data = call.data()
        body = embed_request(data, call.model, self.input_type)
        resp = await self.post(self.embed_url, _encode(body))
        with self.translating:
            return Reply(_encode(embed_response(self.answer_json(resp.body), call.model, data.get("encoding_format"))))


ADAPTER = CohereProvider
