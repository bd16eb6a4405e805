"""IBM watsonx.ai text chat and embeddings: OpenAI chat completions translated to
``/ml/v1/text/chat``, OpenAI embeddings to ``/ml/v1/text/embeddings``.

Checked against IBM's public API reference, https://cloud.ibm.com/apidocs/watsonx-ai#text-chat
(and #text-chat-stream), and the IAM API key grant, https://cloud.ibm.com/apidocs/iam-identity-token-api
(``POST https://iam.cloud.ibm.com/identity/token``, form
``grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=...`` -> ``{access_token, expires_in, ...}``).

watsonx's chat body is close to OpenAI's: ``model_id`` instead of ``model``, a ``project_id`` or
``space_id``, ``tool_choice_option`` for the string tool choices, ``max_completion_tokens``, and no
``stream`` flag (streaming is a separate endpoint answering SSE ``event: message`` events).
Errors are ``{"errors": [{"code", "message", "more_info"}], "trace", "status_code"}``.

Embeddings (https://cloud.ibm.com/apidocs/watsonx-ai#text-embeddings): ``{"inputs": [...],
"model_id", "project_id" | "space_id", "parameters": {"truncate_input_tokens", "return_options"}}``
-> ``{"model_id", "results": [{"embedding": [...]}], "created_at", "input_token_count"}``, results in
input order. OpenAI's 2048 inputs go in requests of at most ``EMBED_BATCH`` (1000, the batch IBM's
SDKs send); ``dimensions`` and token-id inputs have no watsonx counterpart (a clear 400);
``encoding_format: base64`` is encoded here; a client's ``truncate_input_tokens`` is passed on.

The IAM token is exchanged once and reused until shortly before it expires (``TokenCache``); a
401 from watsonx (token revoked or expired early) drops it and retries the request once.
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.parse
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import msgspec

from ..errors import GatewayError, InvalidRequest, ProviderError, from_upstream
from ..schemas.openai import Delta, FinishReason, ToolCallDelta, Usage
from ..sse import SSEEvent, event_json
from ..transports import Transport
from .base import Call, Provider, Reply, Settings, closing
from .token_cache import Token, TokenCache, post_with_token, stream_with_token
from .tool_features import function_tools_only
from .translate import ChunkWriter, embedding_value, require_event_stream, run, sse_decoded

_decode = msgspec.json.decode
_encode = msgspec.json.Encoder().encode

IAM_TOKEN_URL = "https://iam.cloud.ibm.com/identity/token"
IAM_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
DEFAULT_VERSION = "2024-05-31"

# OpenAI fields watsonx takes under the same name (everything else is mapped or dropped).
_SAME = (
    "frequency_penalty", "presence_penalty", "logprobs", "top_logprobs", "n", "seed", "temperature",
    "top_p", "logit_bias", "response_format", "reasoning_effort",
)
# watsonx finish_reason -> OpenAI (stop, length, tool_calls, time_limit, cancelled, error).
# "error" is a failed generation, not an ending: it is raised, not mapped.
_FINISH: dict[str, FinishReason] = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "content_filter": "content_filter",
           "time_limit": "length", "cancelled": "stop"}


# --- request ------------------------------------------------------------------------------------


def _message(message: Mapping[str, Any]) -> dict[str, Any]:
    role = message.get("role")
    if role == "function":
        raise InvalidRequest("watsonx: messages with role 'function' are not supported (use tool messages)", param="messages", code="unsupported_role")
    out = {k: v for k, v in message.items() if v is not None}
    if role == "developer":
        out["role"] = "system"
    # Only user messages take a list of parts; system, assistant and tool content is a string.
    content = out.get("content")
    if role != "user" and isinstance(content, list):
        out["content"] = "".join(p.get("text") or "" for p in content if isinstance(p, dict) and p.get("type") == "text")
    if role == "assistant" and out.get("tool_calls"):
        out["tool_calls"] = [{"id": c["id"], "type": "function",
                              "function": {"name": c["function"]["name"], "arguments": c["function"].get("arguments") or "{}"}}
                             for c in out["tool_calls"]]
    return out


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    fn = tool.get("function") or {}
    out = {k: fn[k] for k in ("name", "description", "parameters") if fn.get(k) is not None}
    return {"type": "function", "function": out}


def chat_request(data: Mapping[str, Any], model: str, *, project_id: str | None, space_id: str | None) -> dict[str, Any]:
    """OpenAI chat request (as a dict) -> watsonx text chat body (the same for chat and chat_stream)."""
    data = function_tools_only(dict(data))
    body: dict[str, Any] = {"model_id": model, "messages": [_message(m) for m in data["messages"]]}
    if project_id:
        body["project_id"] = project_id
    elif space_id:
        body["space_id"] = space_id
    if data.get("tools"):
        body["tools"] = [_tool(t) for t in data["tools"]]
    choice = data.get("tool_choice")
    if isinstance(choice, str):
        body["tool_choice_option"] = choice
    elif isinstance(choice, dict):
        body["tool_choice"] = {"type": "function", "function": {"name": (choice.get("function") or {}).get("name")}}
    max_tokens = data.get("max_completion_tokens") or data.get("max_tokens")
    if max_tokens is not None:
        body["max_completion_tokens"] = max_tokens
    stop = data.get("stop")
    if stop:
        body["stop"] = [stop] if isinstance(stop, str) else list(stop)
    for key in _SAME:
        if data.get(key) is not None:
            body[key] = data[key]
    return body


# --- response -----------------------------------------------------------------------------------


def usage(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not raw:
        return None
    prompt = int(raw.get("prompt_tokens") or 0)
    completion = int(raw.get("completion_tokens") or 0)
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                           "total_tokens": int(raw.get("total_tokens") or prompt + completion)}
    for key in ("prompt_tokens_details", "completion_tokens_details"):
        if raw.get(key):
            out[key] = raw[key]
    return out


def _finish(reason: Any) -> FinishReason | None:
    if not reason:
        return None
    if reason == "error":
        raise ProviderError("watsonx: generation failed (finish_reason error)", code="upstream_error")
    return _FINISH.get(str(reason), "stop")


def _tool_calls(calls: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": c.get("id"), "type": "function",
             "function": {"name": (c.get("function") or {}).get("name"), "arguments": (c.get("function") or {}).get("arguments") or "{}"}}
            for c in calls]


def chat_response(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    """watsonx text chat response -> OpenAI ``chat.completion``."""
    choices = []
    for i, choice in enumerate(body.get("choices") or []):
        message = choice.get("message") or {}
        # content and refusal are required (nullable) in OpenAI's answer; tool_calls only when there are some.
        out: dict[str, Any] = {"role": "assistant", "content": message.get("content"), "refusal": message.get("refusal") or None}
        if message.get("tool_calls"):
            out["tool_calls"] = _tool_calls(message["tool_calls"])
        if message.get("reasoning_content"):
            out["reasoning_content"] = message["reasoning_content"]
        choices.append({"index": choice.get("index", i), "message": out,
                        "finish_reason": _finish(choice.get("finish_reason")) or "stop", "logprobs": choice.get("logprobs")})
    result: dict[str, Any] = {
        "id": body.get("id") or "",
        "object": "chat.completion",
        "created": int(body.get("created") or time.time()),
        "model": model,
        "choices": choices,
    }
    mapped = usage(body.get("usage"))
    if mapped:
        result["usage"] = mapped
    return result


class StreamTranslator:
    """watsonx ``chat_stream`` events (OpenAI-like JSON objects) -> OpenAI chunks: one finish chunk
    per choice, usage on request; the contract is ``translate``'s."""

    __slots__ = ("out", "usage", "done", "_started", "_finished")

    def __init__(self, model: str, include_usage: bool = False) -> None:
        self.out = ChunkWriter(model, include_usage)
        self.usage: Usage | None = None
        self.done = False  # watsonx has no end event: the stream ends with the body
        self._started: set[int] = set()
        self._finished: set[int] = set()

    def feed(self, event: Mapping[str, Any]) -> list[bytes]:
        out = self.out
        out.id = out.id or event.get("id") or ""
        out.created = int(event.get("created") or out.created)
        if event.get("usage"):
            mapped = usage(event["usage"])
            self.usage = msgspec.convert(mapped, Usage) if mapped else None
        chunks: list[bytes] = []
        for choice in event.get("choices") or []:
            index = int(choice.get("index") or 0)
            if index in self._finished:
                continue
            raw = choice.get("delta") or {}
            delta = Delta(content=raw.get("content") or None, reasoning_content=raw.get("reasoning_content") or None,
                          refusal=raw.get("refusal") or None)
            if index not in self._started:
                self._started.add(index)
                delta.role = "assistant"
            if raw.get("tool_calls"):
                calls = []
                for position, call in enumerate(raw["tool_calls"]):
                    ours, _ = out.tool_index(int(call.get("index", position)), index)
                    fn = call.get("function") or {}
                    calls.append(ToolCallDelta(index=ours, id=call.get("id") or None, type="function" if call.get("id") else None,
                                               function={k: fn[k] for k in ("name", "arguments") if fn.get(k) is not None}))
                delta.tool_calls = calls
            finish = _finish(choice.get("finish_reason"))
            if delta != _EMPTY or finish:
                if finish:
                    self._finished.add(index)
                chunks.append(out.chunk(delta, finish, index=index))
        return chunks

    def close(self) -> list[bytes]:
        if not self._started:
            raise ProviderError("watsonx: stream ended without a message", code="stream_error")
        # Some models end a tool-calling stream without a finish_reason: the client still gets one.
        out = self.out
        chunks = [out.chunk(Delta(), "tool_calls" if out.tool_count(index) else "stop", index=index)
                  for index in sorted(self._started - self._finished)]
        return chunks + out.usage(self.usage)


_EMPTY = Delta()


def stream_event(ev: SSEEvent) -> dict[str, Any] | None:
    """One SSE event -> the JSON object the translator reads; None for the ``close`` event, an
    empty one or a non-object; an ``error`` event (or an object with ``errors``) raises."""
    if ev.event == "close":
        return None
    if ev.event == "error":
        raise ProviderError(f"watsonx: {error_message(ev.data.encode()) or 'stream error'}", code="upstream_error")
    payload = event_json(ev.data, "watsonx")
    if not isinstance(payload, dict):
        return None
    if payload.get("errors"):
        raise ProviderError(f"watsonx: {error_message(ev.data.encode()) or 'stream error'}", code="upstream_error")
    return payload


def error_message(body: bytes) -> str | None:
    """``{"errors": [{"code", "message"}], "trace", "status_code"}`` -> "code: message; ..."."""
    try:
        data = _decode(body)
    except msgspec.DecodeError:
        return body[:500].decode("utf-8", "replace").strip() or None
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            parts = [f"{e.get('code')}: {e.get('message')}" if e.get("code") else str(e.get("message")) for e in errors if isinstance(e, dict)]
            return "; ".join(parts) or None
        for key in ("errorMessage", "message"):  # IAM answers {"errorCode", "errorMessage"}
            message = data.get(key)
            if isinstance(message, str):
                return message
    return None


# --- embeddings ---------------------------------------------------------------------------------

EMBED_BATCH = 1000


def embed_requests(data: Mapping[str, Any], model: str, *, project_id: str | None, space_id: str | None) -> list[dict[str, Any]]:
    """OpenAI embeddings request -> the watsonx embeddings bodies (one per EMBED_BATCH inputs)."""
    items = data["input"]
    texts = [items] if isinstance(items, str) else items
    if not all(isinstance(t, str) for t in texts):
        raise InvalidRequest("watsonx: embeddings input must be text (token ids are not supported)", param="input", code="unsupported_input")
    if data.get("dimensions") is not None:
        raise InvalidRequest("watsonx: embedding models have a fixed size; dimensions is not supported", param="dimensions",
                             code="unsupported_parameter")
    base: dict[str, Any] = {"model_id": model}
    if project_id:
        base["project_id"] = project_id
    elif space_id:
        base["space_id"] = space_id
    truncate = data.get("truncate_input_tokens")
    if truncate is not None:
        if not isinstance(truncate, int) or isinstance(truncate, bool) or truncate < 0:
            raise InvalidRequest("truncate_input_tokens must be a non-negative integer", param="truncate_input_tokens")
        base["parameters"] = {"truncate_input_tokens": truncate}
    return [{**base, "inputs": list(texts[i:i + EMBED_BATCH])} for i in range(0, len(texts), EMBED_BATCH)]


def embed_response(bodies: Sequence[Mapping[str, Any]], model: str, encoding_format: str | None = None) -> dict[str, Any]:
    """The watsonx answers (one per batch, in order) -> one OpenAI ``list`` of embeddings."""
    data: list[dict[str, Any]] = []
    tokens = 0
    for body in bodies:
        for result in body.get("results") or []:
            vector = result.get("embedding") if isinstance(result, dict) else None
            if not isinstance(vector, list):
                raise ProviderError("watsonx: an embeddings result without an embedding", code="upstream_bad_response")
            data.append({"object": "embedding", "index": len(data), "embedding": embedding_value(vector, encoding_format)})
        tokens += int(body.get("input_token_count") or 0)
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


# --- adapter ------------------------------------------------------------------------------------


class WatsonxProvider(Provider):
    @classmethod
    def missing_setting(cls, settings: Settings, environ: Mapping[str, str]) -> str | None:
        params = settings.params
        if params.get("project_id") or params.get("space_id") or environ.get("WATSONX_PROJECT_ID") or environ.get("WATSONX_SPACE_ID"):
            return None
        return (f"no project: set providers.{settings.name}.params.project_id (or space_id), "
                "$WATSONX_PROJECT_ID or $WATSONX_SPACE_ID")

    def __init__(self, settings: Settings, transport: Transport) -> None:
        super().__init__(settings, transport)
        params = settings.params
        self.project_id = str(params.get("project_id") or os.environ.get("WATSONX_PROJECT_ID") or "") or None
        self.space_id = str(params.get("space_id") or os.environ.get("WATSONX_SPACE_ID") or "") or None
        version = urllib.parse.quote(str(params.get("version") or DEFAULT_VERSION), safe="-")
        self.chat_url = f"{self.base_url}/ml/v1/text/chat?version={version}"
        self.stream_url = f"{self.base_url}/ml/v1/text/chat_stream?version={version}"
        self.embed_url = f"{self.base_url}/ml/v1/text/embeddings?version={version}"
        self.token_url = str(params.get("token_url") or IAM_TOKEN_URL)
        self._token_form = urllib.parse.urlencode({"grant_type": IAM_GRANT, "apikey": settings.api_key or ""}).encode()
        self._token_headers = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}
        self.tokens = TokenCache(self._exchange, name=self.name)

    async def _exchange(self) -> Token:
        resp = await self.transport.request("POST", self.token_url, headers=self._token_headers, body=self._token_form,
                                            timeout=self.timeout, provider=self.name)
        if resp.status != 200:
            # IAM answers 400 for an unknown or malformed API key: to the client that is failed auth.
            status = 401 if 400 <= resp.status < 500 and resp.status != 429 else resp.status
            raise from_upstream(status, resp.body, resp.headers, provider=self.name, secrets=self.secrets, message=error_message(resp.body))
        try:
            data = _decode(resp.body)
            token = Token(value=data["access_token"], expires_in=float(data.get("expires_in") or 3600))
        except (msgspec.DecodeError, KeyError, TypeError, ValueError):
            raise ProviderError("watsonx: IAM token endpoint answered without an access_token", code="upstream_error") from None
        self.secrets = self.base_secrets + tuple(s for s in (token.value,) if s)
        return token

    def upstream_error(self, status: int, body: bytes, headers: Mapping[str, str], message: str | None = None,
                       kind: str | None = None) -> GatewayError:
        return super().upstream_error(status, body, headers, message if message is not None else error_message(body))

    def _body(self, call: Call) -> bytes:
        # A missing project never gets here: missing_setting() keeps the provider unregistered.
        return _encode(chat_request(call.data(), call.model, project_id=self.project_id, space_id=self.space_id))

    def _headers(self, token: str, accept: str = "application/json") -> dict[str, str]:
        return {**self.headers, "authorization": f"Bearer {token}", "accept": accept}

    async def chat(self, call: Call) -> Reply:
        resp = await post_with_token(self, self.tokens, self.chat_url, self._body(call), self._headers)
        with self.translating:
            return Reply(_encode(chat_response(self.answer_json(resp.body), call.model)))

    async def chat_stream(self, call: Call) -> AsyncIterator[bytes]:
        include_usage = bool((call.data().get("stream_options") or {}).get("include_usage"))
        stream = await stream_with_token(self, self.tokens, self.stream_url, self._body(call),
                                         lambda token: self._headers(token, "text/event-stream"))
        stream = await require_event_stream(stream, self.name)
        return closing(stream, run(sse_decoded(stream.chunks(), stream_event), StreamTranslator(call.model, include_usage)), self.name)


    async def embeddings(self, call: Call) -> Reply:
        data = call.data()
        bodies = embed_requests(data, call.model, project_id=self.project_id, space_id=self.space_id)
        answers = await asyncio.gather(*(post_with_token(self, self.tokens, self.embed_url, _encode(b), self._headers)
                                         for b in bodies))
        with self.translating:
            parsed = [self.answer_json(resp.body) for resp in answers]
            return Reply(_encode(embed_response(parsed, call.model, data.get("encoding_format"))))


ADAPTER = WatsonxProvider
